"""The teaching notebooks are committed with their outputs (`make notebooks`); these checks keep the outputs honest:
every executed cell carries the hash of the code it ran (its own source and every code cell above it), so an edit
without re-running `make notebooks` fails here instead of leaving a stale picture beside new code."""
import json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from run_notebooks import KERNELSPEC, KEY, SLOW_FLAGS, directives, source_hashes, teaching_notebooks  # noqa: E402

NBS = teaching_notebooks()


def _src(cell): return cell['source'] if isinstance(cell['source'], str) else ''.join(cell['source'])


@pytest.mark.parametrize('path', NBS, ids=[p.stem for p in NBS])
def test_outputs_match_code(path):
    nb = json.loads(path.read_text())
    stale, never = [], []
    for i, (cell, h) in enumerate(zip(nb['cells'], source_hashes(nb))):
        if cell['cell_type'] != 'code': continue
        d = directives(_src(cell))
        slow = any(f in d for f in SLOW_FLAGS) or d.get('eval', '').lower() == 'false'
        got = cell.get('metadata', {}).get(KEY)
        if got is None:
            if cell.get('outputs'): stale.append(i)      # outputs that no run of `make notebooks` vouches for
            elif not slow: never.append(i)               # a cell `make notebooks` runs, never run since it changed
        elif got != h: stale.append(i)
    assert not stale and not never, (f"{path.name}: code cells {stale + never} changed since their outputs were made; "
                                     f"run `make notebooks` (python tools/run_notebooks.py {path.stem})")


@pytest.mark.parametrize('path', NBS, ids=[p.stem for p in NBS])
def test_opens_cleanly(path):
    "A kernelspec (no 'Select Kernel' dialog), no errors or widget state saved, slow outputs dated."
    nb = json.loads(path.read_text())
    assert nb['metadata'].get('kernelspec') == KERNELSPEC, f"{path.name}: kernelspec is not the project's (dcae_nb)"
    assert nb['metadata'].get('language_info', {}).get('name') == 'python', f"{path.name}: no language_info"
    assert 'widgets' not in nb['metadata'], f"{path.name}: widget state saved"
    for i, cell in enumerate(nb['cells']):
        for o in cell.get('outputs', []):
            assert o['output_type'] != 'error', f"{path.name}: cell {i} saved an error"
            assert 'application/vnd.jupyter.widget-view+json' not in o.get('data', {}), f"{path.name}: cell {i} widget"
        if cell['cell_type'] == 'code' and cell.get('outputs') and 'slow' in directives(_src(cell)):
            text = ''.join(''.join(o.get('text', '')) for o in cell['outputs'] if o['output_type'] == 'stream')
            assert '[output of a real run on ' in text, f"{path.name}: slow cell {i} kept outputs without the dated line"


def test_pictures_before_running():
    "The house's teaching examples show their figures without being run; all outputs together stay small."
    for stem in ('index', '01_shortcuts', '02_blocks', '13_dit'):
        nb = json.loads((ROOT/'nbs'/f'{stem}.ipynb').read_text())
        pngs = [o for c in nb['cells'] for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
        assert pngs, f"{stem}.ipynb has no saved figure: run `make notebooks`"
    total = sum(p.stat().st_size for p in NBS)
    assert total < 8e6, f"teaching notebooks take {total / 1e6:.1f} MB: compress figures (tools/run_notebooks.py)"


def test_hash_changes_downstream():
    "Editing a cell changes its hash and every hash below it, and nothing above it (the check can fail)."
    nb = {'cells': [{'cell_type': 'code', 'source': s} for s in ('a = 1', 'b = a', 'print(b)')]}
    before = source_hashes(nb)
    nb['cells'][1]['source'] = 'b = a + 1'
    after = source_hashes(nb)
    assert before[0] == after[0] and before[1] != after[1] and before[2] != after[2]
