"tools/seed_power.py: the predicted chances of each verdict, and the seeds two runs need to agree."
import importlib.util, json
from pathlib import Path
import pytest
from dcae_nb.verdicts import verdict_chances

_spec = importlib.util.spec_from_file_location('seed_power', Path(__file__).parents[1] / 'tools' / 'seed_power.py')
sp = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(sp)

def test_no_effect_gives_the_test_level():
    ch = verdict_chances(0.0, 1.0, 5)
    assert ch['reproduced'] == pytest.approx(0.025, abs=1e-6) and ch['against'] == pytest.approx(0.025, abs=1e-6)
    assert ch['inconclusive'] == pytest.approx(0.95, abs=1e-6)

def test_power_rises_with_seeds_and_effect():
    p = [verdict_chances(0.5, 1.0, n)['reproduced'] for n in (3, 6, 12, 24)]
    assert p == sorted(p) and p[0] < 0.2 and p[-1] > 0.6
    assert verdict_chances(20.0, 1.0, 3)['reproduced'] > 0.99
    assert verdict_chances(-20.0, 1.0, 3)['against'] > 0.99

def test_noninferiority_shift_moves_zero():
    # an effect of 0 with a bound of 0.2 (shift 0.2) behaves like an effect of +0.2 without one
    assert verdict_chances(0.0, 0.1, 4, shift=0.2) == verdict_chances(0.2, 0.1, 4)

def test_agreement_and_seeds_needed():
    assert sp.agreement(dict(reproduced=0.5, against=0.0, inconclusive=0.5)) == pytest.approx(0.5)
    assert sp.agreement(dict(reproduced=1.0, against=0.0, inconclusive=0.0)) == 1.0
    sure, weak = [('', [5.0, 5.2, 4.9], 0.0, 0.0)], [('', [0.1, 0.9, 0.3, 0.6], 0.0, 0.0)]
    assert sp.seeds_needed(sure, 0.9) == 3
    n = sp.seeds_needed(weak, 0.9)
    assert n is not None and n > 3 and sp.agreement(sp.claim_chances(weak, n)) >= 0.9 > sp.agreement(sp.claim_chances(weak, n - 1))

def test_pooled_reads_run_folders(tmp_path):
    for name, vals in (('a', [0.1, 0.3, 0.2]), ('b', [0.4, 0.0, 0.2])):
        d = tmp_path / name / '01_x'; d.mkdir(parents=True)
        (tmp_path / name / 'run.json').write_text(json.dumps({'profile': 'smoke', 'notebooks': {'01_x': {'status': 'ran'}}}))
        claims = [dict(id='e', kind='experiment', claim='c', source='s', paper='p', kit='k', setting='s', rule=dict(kind='effect', values=vals)),
                  dict(id='k', kind='check', claim='c', source='s', paper='p', kit='k', setting='s', rule=dict(kind='effect', values=vals))]
        (d / 'results.json').write_text(json.dumps({'notebook': '01_x', 'claims': claims}))
    got = sp.pooled([tmp_path / 'a', tmp_path / 'b'])
    assert list(got) == ['e'] and sorted(got['e']['parts'][0][1]) == [0.0, 0.1, 0.2, 0.2, 0.3, 0.4] and got['e']['gates'] == []
    assert sp.main([str(tmp_path / 'a'), str(tmp_path / 'b'), '--all']) == 0


def test_pooled_gates(tmp_path):
    "A condition the claim presupposes (rule `requires`) is pooled too, and near its boundary it makes the claim fragile."
    for name, pen in (('a', [0.10, 0.25, 0.15]), ('b', [0.20, 0.08, 0.18])):
        d = tmp_path / name / '02_x'; d.mkdir(parents=True)
        (tmp_path / name / 'run.json').write_text(json.dumps({'profile': 'smoke', 'notebooks': {'02_x': {'status': 'ran'}}}))
        rule = dict(kind='effect', values=[1.0, 1.1, 0.9], requires=dict(values=pen, sesoi=0.2, name='penalty'))
        claims = [dict(id='g', kind='experiment', claim='c', source='s', paper='p', kit='k', setting='s', rule=rule)]
        (d / 'results.json').write_text(json.dumps({'notebook': '02_x', 'claims': claims}))
    got = sp.pooled([tmp_path / 'a', tmp_path / 'b'])
    assert sorted(got['g']['gates'][0][0]) == [0.08, 0.1, 0.15, 0.18, 0.2, 0.25] and got['g']['gates'][0][1] == 0.2
    ch = sp.claim_chances(got['g']['parts'], 3, gates=got['g']['gates'])
    assert 0.2 < ch['not_measurable'] < 0.9 and sp.agreement(ch) < 0.9 and sum(ch.values()) == pytest.approx(1.0)
    assert sp.agreement(sp.claim_chances(got['g']['parts'], 3)) > 0.99   # without the gate the claim would look certain
    assert sp.main([str(tmp_path / 'a'), str(tmp_path / 'b')]) == 0


def _two_pilots(tmp_path, edge_b=(0.6, -0.2, 0.5)):
    "Two toy pilot runs: a clear effect and one near zero."
    for name, edge in (('a', [0.1, 0.9, 0.3]), ('b', list(edge_b))):
        d = tmp_path / name / '01_x'; d.mkdir(parents=True)
        (tmp_path / name / 'run.json').write_text(json.dumps({'profile': 'quick', 'command': f'dcae reproduce --seed {ord(name)}', 'notebooks': {'01_x': {'status': 'ran'}}}))
        mk = lambda cid, v: dict(id=cid, kind='experiment', claim='c', source='s', paper='p', kit='k', setting='s', rule=dict(kind='effect', values=v))
        (d / 'results.json').write_text(json.dumps({'notebook': '01_x', 'claims': [mk('clear', [5.0, 5.2, 4.9]), mk('edge', edge)]}))
    return [tmp_path / 'a', tmp_path / 'b']


def test_write_a_power_plan(tmp_path, capsys):
    "--write: a plan from pilot runs that names the underpowered experiment, records its pilots, and loads."
    from dcae_nb.verdicts import load_power_plan, check_claim, INCONCLUSIVE, REPRODUCED
    folders = _two_pilots(tmp_path)
    assert sp.main([str(f) for f in folders] + ['--write', str(tmp_path / 'plan.json')]) == 0
    out = capsys.readouterr().out
    assert '1 of 2 experiments underpowered' in out and '(edge)' in out and 'under a power plan made from these runs' in out
    plan = load_power_plan(tmp_path / 'plan.json')
    assert [p['command'] for p in plan['pilots']] == ['dcae reproduce --seed 97', 'dcae reproduce --seed 98']
    assert plan['claims']['edge']['agreement'] < 0.9 <= plan['claims']['clear']['agreement']
    base = dict(kind='experiment', claim='c', source='s', paper='p', kit='k', setting='s')
    assert check_claim(dict(base, id='edge', rule=dict(kind='effect', values=[0.7, 0.8, 0.75])), plan)['verdict'] == INCONCLUSIVE
    assert check_claim(dict(base, id='clear', rule=dict(kind='effect', values=[5.0, 5.1, 4.9])), plan)['verdict'] == REPRODUCED


def test_the_shipped_quick_plan():
    "data/power_plan_quick.json: made from the three published pilot runs, and every id it names is a quick claim."
    from dcae_nb.verdicts import load_power_plan
    from dcae_nb.repro import load_profile
    plan = load_power_plan('quick')
    assert [p['folder'] for p in plan['pilots']] == ['data/repro-quick', 'data/repro-quick-seed10', 'data/repro-quick-seed20']
    assert plan['target'] == 0.9 and all(e['n_run'] >= 3 for e in plan['claims'].values())
    root = Path(__file__).parents[1] / 'data'
    ids = {c['id'] for f in ('repro-quick',) for p in (root / f).glob('*/results.json') for c in json.loads(p.read_text())['claims']}
    assert set(plan['claims']) <= ids, set(plan['claims']) - ids
    assert {nb: v.get('power_plan') for nb, v in load_profile('quick').items()} == {nb: 'quick' for nb in load_profile('quick')}
    # the plan is remade from the published pilots exactly (no hand edits)
    remade = sp.pooled([root / 'repro-quick', root / 'repro-quick-seed10', root / 'repro-quick-seed20'])
    assert {cid: [p[1] for p in row['parts']] + [g[0] for g in row['gates']] for cid, row in remade.items()} == \
           {cid: [p['values'] for p in e['parts']] + [g['values'] for g in e['gates']] for cid, e in plan['claims'].items()}
