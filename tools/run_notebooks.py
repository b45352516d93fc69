"""Execute the teaching notebooks (`nbs/*.ipynb`) and save them *with* their outputs (`make notebooks`).

Readers opening `nbs/` in JupyterLab, the docs site or a repository browser then see every figure before they run
anything. Each executed code cell records a hash of its source and of all code above it in the notebook
(`metadata.dcae_nb_src`); `tests/test_notebook_outputs.py` fails when a committed output no longer matches the code
that is committed beside it, so outputs cannot go stale silently.

`#| slow` cells are run only with `--slow`; otherwise they keep the outputs of their last real run (which carry a
dated line naming the machine), or are left without outputs when their code changed since.

    python tools/run_notebooks.py                 # every teaching notebook, slow cells kept from their last run
    python tools/run_notebooks.py 01_shortcuts    # one (or a few) by name
    python tools/run_notebooks.py --slow 11_phases
"""
from __future__ import annotations
import argparse, base64, hashlib, io, multiprocessing, os, platform, re, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
KEY = 'dcae_nb_src'                       # cell metadata key (allowed in settings.ini so nbdev_clean keeps it)
# The project's kernel (`make install` registers it in .venv): nbdev_clean sets display_name = name, and JupyterLab marks
# a notebook modified when either differs from the kernel it starts, so the name is also what is displayed.
KERNELSPEC = {'display_name': 'dcae_nb', 'language': 'python', 'name': 'dcae_nb'}
SLOW_FLAGS = ('slow', 'gpu')
_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')
_RAN = '[output of a real run on {date}, {machine}, {secs:.0f} s]\n'

def teaching_notebooks() -> list:
    "The notebooks `make notebooks` executes: nbs/*.ipynb (the reproduction notebooks in nbs/repro/ run under papermill)."
    return sorted(NBS.glob('*.ipynb'))

def directives(source:str) -> dict:
    "The `#| name: value` lines at the top of a cell, as {name: value}."
    out = {}
    for line in source.splitlines():
        m = _DIRECTIVE.match(line)
        if not m: break
        name, _, value = m.group(1).partition(' ')
        out[name.rstrip(':')] = value.strip()
    return out

def source_hashes(nb) -> list:
    "For every code cell: sha1 (12 hex) of its source and the sources of every code cell above it; None for others."
    h, out = hashlib.sha1(), []
    for cell in nb['cells']:
        if cell['cell_type'] != 'code': out.append(None); continue
        src = cell['source'] if isinstance(cell['source'], str) else ''.join(cell['source'])
        h.update(src.encode() + b'\0')
        out.append(h.hexdigest()[:12])
    return out

def language_info() -> dict:
    "What the kernel reports about its language (JupyterLab writes it on open; kept by nbdev_clean via settings.ini)."
    from ipykernel.ipkernel import IPythonKernel
    return {**IPythonKernel.language_info, 'version': platform.python_version()}

def _gpu() -> bool:
    try: import torch; return torch.cuda.is_available()
    except ImportError: return False

def _skipped(d:dict, slow:bool) -> bool:
    "Whether a cell with directives `d` is skipped: `#| eval: false` never runs; `#| slow` runs with --slow; `#| gpu` runs with --slow on a machine with CUDA."
    if d.get('eval', '').lower() == 'false': return True
    if 'gpu' in d: return not (slow and _gpu())
    return not slow and 'slow' in d

def machine() -> str:
    "A short description of this machine for the dated line on slow outputs."
    from dcae_nb.core import cpu_name
    return f"{cpu_name()}, {os.cpu_count()} cores"

def _png(data:str, max_width:int=1100) -> str:
    "Re-encode a base64 PNG as an optimised palette PNG (a fraction of the bytes, no visible change for plots)."
    from PIL import Image
    im = Image.open(io.BytesIO(base64.b64decode(data)))
    if im.width > max_width: im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
    im = im.convert('RGB').quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO(); im.save(buf, format='PNG', optimize=True)
    new = base64.b64encode(buf.getvalue()).decode()
    return new if len(new) < len(data) else data

def _tidy(outputs:list) -> list:
    "Outputs as committed: PNGs compressed, widget views and progress-bar redraws dropped."
    kept = []
    for o in outputs:
        data = o.get('data', {})
        if 'application/vnd.jupyter.widget-view+json' in data:
            data.pop('application/vnd.jupyter.widget-view+json')
            if not data: continue
        if 'image/png' in data: data['image/png'] = _png(data['image/png'])
        if o.get('output_type') == 'stream':
            text = o['text'] if isinstance(o['text'], str) else ''.join(o['text'])
            if '\r' in text:                                    # a progress bar: keep its final state only
                text = '\n'.join(line.rsplit('\r', 1)[-1] for line in text.split('\n'))
            o['text'] = text
        kept.append(o)
    return kept

def run_notebook(path, slow:bool=False, verbose:bool=True) -> tuple:
    "Execute one notebook in place with outputs; returns (name, seconds, error or None)."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    path = Path(path)
    os.environ.setdefault('MPLBACKEND', 'module://matplotlib_inline.backend_inline')
    nb = read_nb(path)
    old = {c.get('id'): c for c in nb.cells}
    hashes = source_hashes(nb)
    shell = CaptureShell(path)
    shell.set_path(path.parent.resolve())
    start, err, cwd = time.time(), None, os.getcwd()
    os.chdir(path.parent)
    try:
        for cell, h in zip(nb.cells, hashes):
            if cell.cell_type != 'code': continue
            d = directives(cell.source)
            if _skipped(d, slow):
                prev = old.get(cell.get('id'))
                if not (prev is not None and prev.get('metadata', {}).get(KEY) == h): cell.outputs = []
                if not cell.outputs: cell.metadata.pop(KEY, None)
                continue
            t0 = time.time()
            cell.outputs = []   # a cell that prints nothing must not keep the outputs of an earlier run
            shell.cell(cell)
            if shell.exc:
                err = f"{path.name}: cell {cell.get('id')} raised {shell.exc!r}"; break
            cell.outputs = _tidy(cell.outputs)
            if any(f in d for f in SLOW_FLAGS):
                cell.outputs.append({'output_type': 'stream', 'name': 'stdout',
                                     'text': _RAN.format(date=date.today(), machine=machine(), secs=time.time() - t0)})
            cell.metadata[KEY] = h
            cell.execution_count = None
    finally:
        os.chdir(cwd)
    if err is None:
        nb.metadata['kernelspec'] = dict(KERNELSPEC)
        nb.metadata['language_info'] = language_info()
        write_nb(nb, path)
    if verbose: print(f"{'FAILED' if err else 'ok':6} {path.name} ({time.time() - start:.0f} s)", flush=True)
    return path.name, time.time() - start, err

def _find(names) -> list:
    if not names: return teaching_notebooks()
    out = []
    for n in names:
        hits = [p for p in teaching_notebooks() if p.stem == n or p.name == n or p.stem.startswith(n)]
        if not hits: sys.exit(f"no teaching notebook matches {n!r}: expected a name from nbs/ such as 01_shortcuts")
        out += hits
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('names', nargs='*', help="notebooks to execute (stem or prefix, e.g. 01_shortcuts or 01); default: all")
    p.add_argument('--slow', action='store_true', help="also run `#| slow` cells (minutes each) instead of keeping their last outputs")
    p.add_argument('--workers', type=int, default=2, help="notebooks executed side by side (one process each)")
    a = p.parse_args(argv)
    paths = _find(a.names)
    os.environ.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // max(1, a.workers))))
    # one fresh process per notebook: an IPython shell replaces sys.modules['__main__'], which a reused worker needs
    with ProcessPoolExecutor(max(1, min(a.workers, len(paths))), mp_context=multiprocessing.get_context('spawn'),
                             max_tasks_per_child=1) as ex:
        results = list(ex.map(run_notebook, paths, [a.slow] * len(paths)))
    errors = [e for _, _, e in results if e]
    clean = subprocess.run([str(Path(sys.executable).parent / 'nbdev_clean')], cwd=ROOT)
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths) - len(errors)} of {len(paths)} notebooks executed; {total / 1e6:.1f} MB on disk")
    if errors: sys.exit('\n'.join(errors))
    if clean.returncode: sys.exit('nbdev_clean failed')

if __name__ == '__main__': main()
