"tools/compare_runs.py: which verdicts two runs share, judged as each ran or under one power plan."
import importlib.util, json
from pathlib import Path
from dcae_nb.verdicts import power_plan

_spec = importlib.util.spec_from_file_location('compare_runs', Path(__file__).parents[1] / 'tools' / 'compare_runs.py')
cr = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(cr)
BASE = dict(kind='experiment', claim='c', source='s', paper='p', kit='k', setting='s')


def _run(folder:Path, edge:list):
    d = folder / '01_x'; d.mkdir(parents=True)
    (folder / 'run.json').write_text(json.dumps({'profile': 'quick', 'notebooks': {'01_x': {'status': 'ran'}}}))
    claims = [dict(BASE, id='clear', rule=dict(kind='effect', values=[5.0, 5.2, 4.9])), dict(BASE, id='edge', rule=dict(kind='effect', values=edge))]
    (d / 'results.json').write_text(json.dumps({'notebook': '01_x', 'claims': claims}))
    return folder


def test_differences_and_a_plan(tmp_path, capsys):
    a, b = _run(tmp_path / 'a', [0.7, 0.8, 0.75]), _run(tmp_path / 'b', [0.9, -0.4, 0.3])
    assert cr.main([str(a), str(b)]) == 1                     # reproduced / inconclusive: they differ
    out = capsys.readouterr().out
    assert '≠ edge' in out and '1 of 2 verdicts agree' in out
    plan = power_plan([[dict(BASE, id='edge', rule=dict(kind='effect', values=[0.1, 0.9, 0.3, 0.6, -0.2, 0.5]))]], pilots=['p'])
    (tmp_path / 'plan.json').write_text(json.dumps(plan))
    assert cr.main([str(a), str(b), '--plan', str(tmp_path / 'plan.json')]) == 0   # the plan fixes the edge claim: both inconclusive
    assert '2 of 2 verdicts agree' in capsys.readouterr().out
