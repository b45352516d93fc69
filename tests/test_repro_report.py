"REPORT.md from fixture results: every verdict, failed and missing notebooks, bad parameters, and `dcae reproduce` errors."
import contextlib, io, json
from pathlib import Path
import nbformat, pytest
from dcae_nb.core import BadInputError
from dcae_nb.verdicts import (REPRODUCED, NOT_REPRODUCED, NOT_MEASURABLE, INCONCLUSIVE, CHECK_PASSED, CHECK_FAILED, PREDICTED,
                              write_results, write_json_atomic, check_claim)
from dcae_nb.repro import build_report, write_report, check_parameters, load_profile, reproduce, run_notebook, collect, tally
from dcae_nb.cli import main


def _claim(id, rule, **kw):
    return dict(dict(id=id, claim=f'claim {id}.', source='Fig. 0', paper='1.0 [paper?]', kit='2.0', setting='toy, 32 px, 2 steps',
                     rule=rule), **kw)

CLAIMS = [
    _claim('wins', dict(kind='greater', a=20.5, b=12.2), kind='check'),                  # a counted quantity: check passed
    _claim('noise', dict(kind='effect', values=[0.2, 0.3, 0.25], sesoi=1.0)),              # real but below what matters: not reproduced
    _claim('both', dict(kind='all', rules=[dict(kind='effect', values=[0.02, 0.03, 0.025], name='LPIPS'),
                                           dict(kind='effect', values=[0.01, -0.02, 0.0], name='KID')])),  # one straddles: inconclusive
    _claim('matches', dict(kind='effect', values=[-0.002, 0.001, 0.0], noninferiority=0.01)),  # within the stated bound
    _claim('ratio', dict(kind='ratio', measured=2.4, paper=2.27, rel_tol=0.25)),           # reproduced
    _claim('gpu', dict(kind='ratio', measured=None, paper=17.9, reason='no GPU on this machine')),  # not measurable
    _claim('imagenet', dict(kind='unmeasurable', reason='needs ImageNet')),                # not measurable
    _claim('seeds-win', dict(kind='effect', values=[1.9, 2.4, 2.1], unit=' dB')),          # interval over seeds excludes 0
    _claim('seeds-lose', dict(kind='effect', values=[-1.9, -2.4, -2.1], unit=' dB')),      # excludes the paper's direction
    _claim('seeds-straddle', dict(kind='effect', values=[1.0, -0.8, 0.3], unit=' dB')),    # inconclusive at this budget
    _claim('tokens', dict(kind='ratio', measured=4, paper=4, rel_tol=0.0), kind='check'),  # a count: a check
    _claim('macs', dict(kind='ratio', measured=4.05, paper=4.46, rel_tol=0.5), kind='prediction'),  # derived: predicted
]
WANT = {'wins': CHECK_PASSED, 'noise': NOT_REPRODUCED, 'both': INCONCLUSIVE, 'matches': REPRODUCED, 'ratio': REPRODUCED,
        'gpu': NOT_MEASURABLE, 'imagenet': NOT_MEASURABLE, 'seeds-win': REPRODUCED, 'seeds-lose': NOT_REPRODUCED,
        'seeds-straddle': INCONCLUSIVE, 'tokens': CHECK_PASSED, 'macs': PREDICTED}


@pytest.fixture
def run_dir(tmp_path):
    "A run folder: one notebook with claims of every verdict, one that failed, one listed as ran whose results vanished."
    write_results(tmp_path / '01_demo', '01_demo', CLAIMS, setting=dict(data='toy', size='32 px'), figures=['curve.png'])
    (tmp_path / '02_broken').mkdir(); (tmp_path / '03_lost').mkdir()
    write_json_atomic(tmp_path / 'run.json', dict(
        profile='smoke', command='dcae reproduce --profile smoke', started='2026-01-01T00:00:00', finished='2026-01-01T00:01:00',
        machine=dict(cpu='TestCPU', cpu_cores=2, torch='x', python='y', git_rev='abc1234'),
        notebooks={'01_demo': dict(status='ran'), '02_broken': dict(status='failed', error='ValueError: boom'),
                   '03_lost': dict(status='ran')}))
    return tmp_path


def test_every_verdict(run_dir):
    rep = build_report(run_dir)
    assert ('12 claims. Experiments measured at kit scale: 7 (3 reproduced, 2 not reproduced, 2 inconclusive at this budget). '
            'Not measurable here: 2. Checks (arithmetic, counted quantities): 2 (2 passed, 0 failed). Predictions (derived, not measured): 1.') in rep
    rows = {l.split('|')[3].strip(): l for l in rep.splitlines() if l.startswith('| 01_demo')}
    for cid, verdict in WANT.items():
        row = rows[f'claim {cid}.']
        assert f'**{verdict}**' in row and 'toy, 32 px, 2 steps' in row and '1.0 [paper?]' in row, row
    assert 'no GPU on this machine' in rep and 'needs ImageNet' in rep
    assert '![curve](01_demo/curve.png)' in rep
    assert 'git revision: abc1234' in rep and 'TestCPU' in rep and 'data = toy' in rep
    rev = json.loads((run_dir / '01_demo' / 'results.json').read_text())['machine']['git_rev'] or 'unknown'
    assert f'notebooks run at another revision: 01_demo at {rev}' in rep and f'at git revision {rev}.' in rep


def test_failed_notebook_reported(run_dir):
    rep = build_report(run_dir)
    assert '## 02_broken' in rep and 'ValueError: boom' in rep and 'not measurable here' in rep


def test_missing_results_reported(run_dir):
    "A notebook recorded as run whose results.json has vanished is listed, with the command that reruns it."
    rep = build_report(run_dir)
    assert '## 03_lost' in rep and '03_lost/results.json is missing' in rep and '--only 03_lost --force' in rep


def test_verdicts_recomputed_from_numbers(run_dir):
    "A verdict typed into results.json is ignored: the report judges the numbers again."
    p = run_dir / '01_demo' / 'results.json'
    r = json.loads(p.read_text())
    for c in r['claims']: c['verdict'] = REPRODUCED
    p.write_text(json.dumps(r))
    _, results = collect(run_dir)
    got = {c['id']: c['verdict'] for res in results for c in res['claims']}
    assert got == WANT


def test_write_report_atomic(run_dir):
    p = write_report(run_dir)
    assert p.read_text() == build_report(run_dir) and not list(run_dir.glob('.REPORT*'))


def test_bad_claims():
    with pytest.raises(BadInputError, match='lacks field'): check_claim(dict(id='x', rule=dict(kind='less', a=1, b=2)))
    with pytest.raises(BadInputError, match='unknown rule kind'): check_claim(_claim('x', dict(kind='bigger', a=1, b=2)))


def _fixture_nb(folder:Path, name:str, body:str):
    "A tiny reproduction notebook: a parameters cell, then `body`."
    nb = nbformat.v4.new_notebook(metadata=dict(kernelspec=dict(name='python3', display_name='python3', language='python')))
    p = nbformat.v4.new_code_cell("out_dir = '.'\ndevice = 'cpu'\nprofile = 'smoke'\nx = 1"); p.metadata['tags'] = ['parameters']
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    (folder / 'params').mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f'{name}.ipynb'))
    return folder / f'{name}.ipynb'


def test_bad_parameter_and_missing_cell(tmp_path):
    p = _fixture_nb(tmp_path, '01_toy', 'pass')
    check_parameters(p, dict(x=2, out_dir='.'))
    with pytest.raises(BadInputError, match=r"unknown parameter\(s\) \['y'\]. It declares: device, out_dir, profile, x"):
        check_parameters(p, dict(y=2))
    nb = nbformat.read(str(p), as_version=4); nb.cells[0].metadata['tags'] = []; nbformat.write(nb, str(p))
    with pytest.raises(BadInputError, match="no cell tagged 'parameters'"): check_parameters(p, {})


def test_run_failed_ran_skipped(tmp_path):
    "Real papermill runs of fixture notebooks: one fails (recorded with its error), one writes results (then is skipped)."
    nbs = tmp_path / 'nbs'
    _fixture_nb(nbs, '01_fails', "raise ValueError('boom from the fixture')")
    _fixture_nb(nbs, '02_works', "from dcae_nb.verdicts import write_results\n"
                                 "write_results(out_dir, '02_works', [dict(id='a', claim='c.', source='s', paper='1 [code]', "
                                 "kit=str(x), setting='toy', rule=dict(kind='at_least', value=x, bound=1))])")
    (nbs / 'params' / 'smoke.yaml').write_text("02_works:\n  x: 3\n")
    out = tmp_path / 'out'
    rep = reproduce('smoke', out=out, folder=nbs, device='cpu').read_text()
    run = json.loads((out / 'run.json').read_text())
    assert run['notebooks']['01_fails']['status'] == 'failed' and 'boom from the fixture' in run['notebooks']['01_fails']['error']
    assert run['notebooks']['02_works']['status'] == 'ran'
    assert '1 claims. Experiments measured at kit scale: 1 (1 reproduced' in rep and 'boom from the fixture' in rep
    assert run_notebook('02_works', dict(x=3, device='cpu', profile='smoke'), out, nbs)['status'] == 'skipped'
    assert run_notebook('02_works', dict(x=0, device='cpu', profile='smoke'), out, nbs)['status'] == 'ran'   # new parameters: runs again
    assert run_notebook('02_works', dict(x=0, device='cpu', profile='smoke'), out, nbs)['status'] == 'skipped'
    _fixture_nb(nbs, '02_works', "from dcae_nb.verdicts import write_results\n"
                                 "write_results(out_dir, '02_works', [dict(id='a', claim='c.', source='s', paper='1 [code]', "
                                 "kit=str(x), setting='toy, edited', rule=dict(kind='at_least', value=x, bound=1))])")
    assert run_notebook('02_works', dict(x=0, device='cpu', profile='smoke'), out, nbs)['status'] == 'ran'   # edited code: runs again
    assert '**not reproduced**' in build_report(out)


def _cli(*args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err): rc = main(['reproduce', *args])
    return rc, err.getvalue()


def test_cli_report_only_empty(tmp_path):
    rc, err = _cli('--report-only', '--out', str(tmp_path))
    assert rc == 2 and 'holds no run (no run.json)' in err and "run 'dcae reproduce' first" in err


def test_cli_report_only_rebuilds(run_dir):
    (run_dir / 'REPORT.md').unlink(missing_ok=True)
    with contextlib.redirect_stdout(io.StringIO()): assert main(['reproduce', '--report-only', '--out', str(run_dir)]) == 0
    assert '(3 reproduced, 2 not reproduced, 2 inconclusive at this budget)' in (run_dir / 'REPORT.md').read_text()


def test_unknown_profile(tmp_path):
    with pytest.raises(BadInputError, match="unknown profile 'huge': expected one of smoke, quick, long, full"): load_profile('huge')
    with contextlib.redirect_stderr(io.StringIO()) as err: assert main(['reproduce', '--profile', 'huge', '--out', str(tmp_path)]) == 2
    assert "argument --profile: invalid choice: 'huge'" in err.getvalue() and 'Traceback' not in err.getvalue()


def test_only_matches_nothing(tmp_path):
    with pytest.raises(BadInputError, match="--only 'nothing_like_this' matches no notebook; known: 01_"):
        reproduce('smoke', only=['nothing_like_this'], out=tmp_path)
    rc, err = _cli('--profile', 'smoke', '--only', '99', '--out', str(tmp_path))
    assert rc == 2 and "--only '99' matches no notebook" in err


def test_tally_counts_each_verdict_once():
    "The tally puts every claim in exactly one bin, and a check or a prediction never counts as reproduced."
    judged = [check_claim(c) for c in CLAIMS]
    t = tally(judged)
    bins = sum(t['experiments'].values()) + t['not_measurable'] + sum(t['checks'].values()) + t['predictions']
    assert bins == t['claims'] == len(CLAIMS)
    assert t['experiments'][REPRODUCED] == 3 and t['experiments'][INCONCLUSIVE] == 2 and t['checks'][CHECK_PASSED] == 2 and t['predictions'] == 1
    failed = check_claim(_claim('bad-count', dict(kind='ratio', measured=5, paper=4, rel_tol=0.0), kind='check'))
    assert failed['verdict'] == CHECK_FAILED


def test_reproduce_overrides(tmp_path):
    "--seed, --data and --eval-data reach every notebook that declares them; a missing folder is one clear error."
    nbs = tmp_path / 'nbs'
    _fixture_nb(nbs, '01_seeded', "seed = 0\ndata = None\neval_data = None\nhires_data = None")
    nb = nbformat.read(str(nbs / '01_seeded.ipynb'), as_version=4)
    nb.cells[0].source += "\nseed = 0\ndata = None\neval_data = None\nhires_data = None"
    nb.cells[1].source = ("from dcae_nb.verdicts import write_results\n"
                          "write_results(out_dir, '01_seeded', [dict(id='a', claim='c.', source='s', paper='p', kit=f'{seed} {data} {eval_data} {hires_data}', "
                          "setting='toy', rule=dict(kind='unmeasurable', reason='fixture'))])")
    nbformat.write(nb, str(nbs / '01_seeded.ipynb'))
    (nbs / 'params' / 'smoke.yaml').write_text("01_seeded:\n  x: 1\n")
    mine, theirs = tmp_path / 'mine', tmp_path / 'theirs'; mine.mkdir(); theirs.mkdir()
    reproduce('smoke', out=tmp_path / 'out', folder=nbs, device='cpu', seed=7, data=mine, eval_data=theirs)
    kit = json.loads((tmp_path / 'out' / '01_seeded' / 'results.json').read_text())['claims'][0]['kit']
    assert kit == f"7 {mine.resolve()} {theirs.resolve()} {theirs.resolve()}", kit
    with pytest.raises(BadInputError, match='--eval-data .*not a folder'):
        reproduce('smoke', out=tmp_path / 'out2', folder=nbs, device='cpu', eval_data=tmp_path / 'nope')


def test_photo_folders_reach_the_recipe(tmp_path):
    """The autoencoder notebooks take their photos inside `recipe`: --data and --eval-data replace those fields, both
    where the profile gives a recipe and where the notebook's own default recipe is used (they were silently dropped)."""
    nbs = tmp_path / 'nbs'
    for name in ('01_recipe', '02_default'):
        nb = nbformat.read(str(_fixture_nb(nbs, name, '')), as_version=4)
        nb.cells[0].source += "\nrecipe = {'steps': 2, 'data': 'embedded-train', 'eval_data': 'embedded-eval'}"
        nb.cells[1].source = ("from dcae_nb.verdicts import write_results\n"
                              f"write_results(out_dir, '{name}', [dict(id='a', claim='c.', source='s', paper='p', "
                              "kit=f\"{recipe['steps']} {recipe['data']} {recipe['eval_data']}\", setting='toy', rule=dict(kind='unmeasurable', reason='fixture'))])")
        nbformat.write(nb, str(nbs / f'{name}.ipynb'))
    (nbs / 'params' / 'smoke.yaml').write_text("01_recipe:\n  recipe: {steps: 3, data: null, eval_data: null}\n02_default:\n  x: 1\n")
    mine, theirs = tmp_path / 'mine', tmp_path / 'theirs'; mine.mkdir(); theirs.mkdir()
    reproduce('smoke', out=tmp_path / 'out', folder=nbs, device='cpu', data=mine, eval_data=theirs)
    kit = lambda n: json.loads((tmp_path / 'out' / n / 'results.json').read_text())['claims'][0]['kit']
    assert kit('01_recipe') == f"3 {mine.resolve()} {theirs.resolve()}"
    assert kit('02_default') == f"2 {mine.resolve()} {theirs.resolve()}"


def test_photo_folders_need_a_readable_recipe(tmp_path):
    "A notebook whose default `recipe` is not a plain literal, with none in the profile: one clear error, not a silent drop."
    nbs = tmp_path / 'nbs'
    nb = nbformat.read(str(_fixture_nb(nbs, '01_odd', 'pass')), as_version=4)
    nb.cells[0].source += "\nrecipe = {'steps': 2 * 3}"
    nbformat.write(nb, str(nbs / '01_odd.ipynb'))
    (nbs / 'params' / 'smoke.yaml').write_text("01_odd:\n  x: 1\n")
    (tmp_path / 'mine').mkdir()
    with pytest.raises(BadInputError, match='not a plain dict literal'):
        reproduce('smoke', out=tmp_path / 'out', folder=nbs, device='cpu', data=tmp_path / 'mine')


def test_power_plan_reapplied_and_reported(tmp_path):
    "results.json carries the plan it was judged under; the report re-judges with it and says so."
    from dcae_nb.verdicts import write_results, power_plan, INCONCLUSIVE
    from dcae_nb.repro import collect, build_report
    base = dict(kind='experiment', claim='A beats B.', source='Fig. 0', paper='p', kit='k', setting='s')
    mk = lambda cid, v: dict(base, id=cid, rule=dict(kind='effect', values=v))
    plan = power_plan([[mk('edge', [0.1, 0.9, 0.3]), mk('clear', [5.0, 5.2, 4.9])], [mk('edge', [0.6, -0.2, 0.5])]], pilots=['pilot run'])
    (tmp_path / 'run.json').write_text(json.dumps({'profile': 'quick', 'notebooks': {'01_x': {'status': 'ran'}}}))
    write_results(tmp_path / '01_x', '01_x', [mk('edge', [0.7, 0.8, 0.75]), mk('clear', [5.0, 5.1, 4.9])], power_plan=plan)
    _, results = collect(tmp_path)
    assert [c['verdict'] for c in results[0]['claims']] == [INCONCLUSIVE, 'reproduced']
    rep = build_report(tmp_path)
    assert 'Judged under a power plan made before this run' in rep and 'pilot run' in rep and ': edge.' in rep
    assert '(fixed by the power plan)' in rep


def test_power_plan_checked_before_the_run(tmp_path):
    "A profile naming a plan the kit does not have fails at once, before any notebook runs."
    import yaml, shutil
    from dcae_nb.repro import reproduce, repro_dir
    folder = tmp_path / 'nbs'; shutil.copytree(repro_dir(), folder)
    prof = yaml.safe_load((folder / 'params' / 'smoke.yaml').read_text()) or {}
    prof.setdefault('01_residual', {})['power_plan'] = 'no-such-plan'
    (folder / 'params' / 'smoke.yaml').write_text(yaml.safe_dump(prof))
    with pytest.raises(BadInputError, match='no packaged data file'):
        reproduce('smoke', ['01'], tmp_path / 'out', folder=folder)
    assert not (tmp_path / 'out' / 'run.json').exists()
