"Reproduction notebooks (nbs/repro): every one runs end to end under the smoke profile; parameters and profiles are checked."
import ast, json, re
from pathlib import Path
import nbformat, pytest
from dcae_nb.core import BadInputError
from dcae_nb.verdicts import REPRODUCED, NOT_REPRODUCED, NOT_MEASURABLE, INCONCLUSIVE, CHECK_PASSED, CHECK_FAILED, PREDICTED
from dcae_nb.repro import (PROFILES, list_notebooks, load_profile, notebook_parameters, check_parameters, reproduce, repro_dir,
                           run_notebook)

NOTEBOOKS = list_notebooks()
COMMON = {'out_dir', 'device', 'profile'}  # every notebook declares these
VERDICTS = {REPRODUCED, NOT_REPRODUCED, NOT_MEASURABLE, INCONCLUSIVE, CHECK_PASSED, CHECK_FAILED, PREDICTED}
# the shared training recipe: notebooks that declare it must agree on it within a profile (model reuse)
RECIPE = ('recipe', 'seed')


def _nb(name): return nbformat.read(str(repro_dir() / f'{name}.ipynb'), as_version=4)
def _params_cell(name): return next(c for c in _nb(name).cells if 'parameters' in c.metadata.get('tags', []))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_parameters_cell(name):
    "Every assignment of the parameters cell is seen by papermill (it skips a line with '=' in its comment)."
    tree = ast.parse(_params_cell(name).source)
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    known = set(notebook_parameters(repro_dir() / f'{name}.ipynb'))
    assert assigned == known, f"papermill misses {sorted(assigned - known)}: no '=' in their comments"
    assert COMMON <= known, f"{name} lacks {sorted(COMMON - known)}"
    assert _nb(name).metadata.get('kernelspec', {}).get('name'), f"{name} has no kernelspec (papermill needs one)"


@pytest.mark.parametrize('profile', PROFILES)
def test_profiles_valid(profile):
    "Every section of every profile names an existing notebook and only parameters it declares."
    prof = load_profile(profile)
    assert set(prof) <= set(NOTEBOOKS), f"sections without a notebook: {sorted(set(prof) - set(NOTEBOOKS))}"
    for name, params in prof.items():
        check_parameters(repro_dir() / f'{name}.ipynb', dict(params or {}, out_dir='.', device='cpu', profile=profile))


@pytest.mark.parametrize('profile', PROFILES)
def test_profiles_share_the_recipe(profile):
    "Notebooks reuse each other's models only if their recipe settings are equal (explicit or defaulted)."
    prof, seen = load_profile(profile), {}
    for name in NOTEBOOKS:
        declared = notebook_parameters(repro_dir() / f'{name}.ipynb')
        if 'model_store' not in declared: continue
        for k in RECIPE:
            if k not in declared: continue
            v = (prof.get(name) or {}).get(k, ast.literal_eval(declared[k]['default']))
            seen.setdefault(k, {})[name] = v
    for k, by_nb in seen.items(): assert len({json.dumps(v) for v in by_nb.values()}) == 1, (profile, k, by_nb)


def test_no_cell_copied():
    "No code cell of more than three lines appears in two reproduction notebooks: shared code lives in dcae_nb.recipe."
    seen = {}
    for n in NOTEBOOKS:
        for c in _nb(n).cells:
            if c.cell_type == 'code' and c.source.count('\n') >= 3: seen.setdefault(c.source, []).append(n)
    copies = {src.splitlines()[0][:60]: ns for src, ns in seen.items() if len(set(ns)) > 1}
    assert not copies, copies


def test_trainers_declare_recipe():
    "Every notebook that trains autoencoders through the recipe layer declares the recipe as one parameter, and a base seed."
    users = [n for n in NOTEBOOKS if any(c.cell_type == 'code' and 'Session(' in c.source for c in _nb(n).cells)]
    assert len(users) >= 4, users
    for n in users: assert {'recipe', 'seed'} <= set(notebook_parameters(repro_dir() / f'{n}.ipynb')), n


def test_bad_parameter_name(tmp_path):
    name = NOTEBOOKS[0]
    with pytest.raises(BadInputError, match=r"unknown parameter\(s\) \[.stepz.\]. It declares: .*recipe"):
        run_notebook(name, dict(stepz=3), tmp_path)
    with pytest.raises(BadInputError, match="no reproduction notebook 'nope'"):
        run_notebook('nope', {}, tmp_path)
    assert not (tmp_path / name / 'results.json').exists()


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
    "One smoke run of every notebook into one folder (so notebooks reuse each other's models, as in a real run)."
    out = tmp_path_factory.mktemp('repro') / 'smoke'
    report = reproduce('smoke', out=out, device='cpu', command='pytest smoke run')
    return out, json.loads((out / 'run.json').read_text()), report.read_text()


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_smoke_run(smoke_run, name):
    out, run, report = smoke_run
    rec = run['notebooks'][name]
    assert rec['status'] == 'ran', rec
    res = json.loads((out / name / 'results.json').read_text())
    assert res['notebook'] == name and res['claims'], res
    for c in res['claims']:
        assert c['verdict'] in VERDICTS and c['reason'] and c['paper'] and c['kit'] and c['setting'], c
    for f in res['figures']: assert (out / name / f).is_file(), f
    assert f"## {name}" in report


def test_smoke_models_reused(smoke_run):
    "No model was trained twice with different settings under one name (which would mean the notebooks disagree)."
    out, _, _ = smoke_run
    store = out / '_models'
    if not store.exists(): pytest.skip('no notebook used the model store')
    stems = [re.sub(r'-[0-9a-f]{10}$', '', p.name) for p in store.iterdir() if p.is_dir()]
    assert len(stems) == len(set(stems)), sorted(stems)
    for p in store.iterdir(): assert (p / 'final' / 'config.json').is_file(), p


def test_rerun_skips(smoke_run):
    "A second run with the same parameters skips every notebook."
    out, run, _ = smoke_run
    t = reproduce('smoke', only=[NOTEBOOKS[0]], out=out, device='cpu')
    assert json.loads((out / 'run.json').read_text())['notebooks'][NOTEBOOKS[0]]['status'] == 'skipped'
    assert t.exists()


def test_missing_input_fails_clearly(smoke_run, tmp_path):
    "A released checkpoint folder that does not exist stops the notebook with a message saying what to give."
    if '04_reconstruction' not in NOTEBOOKS: pytest.skip('no 04_reconstruction notebook')
    out, _, _ = smoke_run
    params = dict(load_profile('smoke').get('04_reconstruction') or {}, released=['/no/such/checkpoint'],
                  model_store=str(out / '_models'), device='cpu', profile='smoke')
    rec = run_notebook('04_reconstruction', params, tmp_path, progress=False)
    assert rec['status'] == 'failed' and 'released: /no/such/checkpoint is not a folder' in rec['error'], rec
