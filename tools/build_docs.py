"""Build the static documentation site (`make docs`) from the executed notebooks, with no Quarto.

Pages, written to `_docs/` (settings.ini's doc_path):
- one page per teaching notebook (`nbs/*.ipynb`, with its saved outputs: run `make notebooks` first), rendered by
  nbconvert's JupyterLab template; `#| hide` cells are left out and `#|` directive lines are dropped from code shown;
- one API page per module of the package, generated from the docstrings and docments (the comments after each
  parameter) of everything in the module's `__all__`, each symbol linked to the notebook that defines it;
- the published reproduction reports (`data/repro-*/REPORT.md`) with their figures.

    python tools/build_docs.py             # then open _docs/index.html (or: python -m http.server -d _docs)
"""
from __future__ import annotations
import argparse, html, importlib, inspect, json, re, shutil, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from run_notebooks import KEY, directives, teaching_notebooks  # noqa: E402

LIB = 'dcae_nb'
CSS = """
body { margin: 0; }
.dcae-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 230px; overflow-y: auto; padding: 12px 10px;
  background: #f6f7f9; border-right: 1px solid #ddd; font: 14px/1.45 system-ui, sans-serif; z-index: 10; }
.dcae-nav a { display: block; color: #234; text-decoration: none; padding: 2px 4px; border-radius: 3px; }
.dcae-nav a:hover { background: #e4e8ee; } .dcae-nav a.here { background: #dce6f5; font-weight: 600; }
.dcae-nav h4 { margin: 14px 0 4px; font-size: 12px; text-transform: uppercase; color: #667; }
.dcae-main { margin-left: 250px; padding: 8px 24px 60px; max-width: 1100px; }
.dcae-api { font: 15px/1.55 system-ui, sans-serif; }
.dcae-api h2 { border-top: 1px solid #ddd; padding-top: 14px; font-family: monospace; font-size: 17px; }
.dcae-api table { border-collapse: collapse; margin: 6px 0 12px; } .dcae-api td, .dcae-api th { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
.dcae-api code.sig { display: block; white-space: pre-wrap; background: #f4f4f4; padding: 6px 8px; }
.dcae-plain { font: 15px/1.55 system-ui, sans-serif; } .dcae-plain img { max-width: 100%; }
.dcae-plain table { border-collapse: collapse; } .dcae-plain td, .dcae-plain th { border: 1px solid #ddd; padding: 3px 6px; }
"""

def _md(text:str) -> str:
    import mistune
    return mistune.html(text or '')

def _title(nb) -> str:
    for c in nb.cells:
        if c.cell_type == 'markdown':
            m = re.search(r'^#\s+(.+)$', c.source, re.M)
            if m: return m.group(1).strip()
    return ''

def page_name(nb_path:Path) -> str:
    "The html page of a notebook: index.ipynb → index.html, 01_shortcuts.ipynb → 01_shortcuts.html."
    return nb_path.stem + '.html'

def _prepare(nb):
    "A copy of the notebook as shown: hidden cells dropped, directive lines removed, export-only cells kept as code."
    import copy
    nb = copy.deepcopy(nb)
    cells = []
    for c in nb.cells:
        if c.cell_type == 'code':
            d = directives(c.source)
            if 'hide' in d or 'include' in d and d['include'].lower() == 'false': continue
            if any(k.startswith('default_exp') for k in d): continue
            lines = c.source.splitlines()
            while lines and re.match(r'^\s*#\s*\|', lines[0]): lines.pop(0)
            c.source = '\n'.join(lines)
            if not c.source.strip() and not c.outputs: continue
        cells.append(c)
    nb.cells = cells
    return nb

def _nav(pages:list, api:list, reports:list, here:str) -> str:
    def a(href, text): return f'<a href="{href}"{" class=here" if href == here else ""}>{html.escape(text)}</a>'
    out = ['<nav class="dcae-nav"><h4>dcae_nb</h4>']
    out += [a(h, t) for h, t in pages]
    if reports: out.append('<h4>Reproduction</h4>'); out += [a(h, t) for h, t in reports]
    out.append('<h4>API</h4>'); out += [a(h, t) for h, t in api]
    return '\n'.join(out) + '</nav>'

def _wrap(body:str, title:str, nav:str) -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)} · dcae_nb</title>'
            f'<style>{CSS}</style></head><body>{nav}<main class="dcae-main">{body}</main></body></html>')

def _inject(full:str, nav:str) -> str:
    "Put the site's navigation into a page nbconvert wrote."
    full = full.replace('</head>', f'<style>{CSS}</style></head>', 1)
    full = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav + '<main class="dcae-main">', full, count=1)
    return full.replace('</body>', '</main></body>', 1)

def _signature(obj) -> str:
    try: return str(inspect.signature(obj))
    except (TypeError, ValueError): return ''

def _params_table(obj) -> str:
    try:
        from fastcore.docments import docments
        d = docments(obj, full=True)
    except Exception: return ''
    rows = []
    for name, info in d.items():
        if name in ('self', 'return') or name.startswith('*'): continue
        default = '' if info.get('default') is inspect.Parameter.empty else repr(info.get('default'))
        anno = info.get('anno'); anno = '' if anno is inspect.Parameter.empty else getattr(anno, '__name__', str(anno))
        rows.append(f"<tr><td><code>{html.escape(name)}</code></td><td><code>{html.escape(str(anno))}</code></td>"
                    f"<td><code>{html.escape(default)}</code></td><td>{html.escape(info.get('docment') or '')}</td></tr>")
    if not rows: return ''
    return '<table><tr><th>parameter</th><th>type</th><th>default</th><th>what it is</th></tr>' + ''.join(rows) + '</table>'

def _exported(qualname:str, modidx:dict, mod:str) -> bool:
    "Whether nbdev's index (dcae_nb/_modidx.py) lists `qualname` as defined in module `mod`."
    return f'{mod}.{qualname}' in modidx.get(mod, {})

def api_page(mod:str, modidx:dict, nb_of:dict) -> tuple:
    "(title, body html) of the API page for module `mod`."
    m = importlib.import_module(mod)
    doc = (m.__doc__ or '').strip()
    names = list(getattr(m, '__all__', []))
    src = nb_of.get(mod, '')
    parts = [f'<div class="dcae-api"><h1><code>{mod}</code></h1>',
             _md(doc) if doc else '', f'<p>Source notebook: <a href="{src}">{src.replace(".html", ".ipynb")}</a></p>' if src else '']
    for name in names:
        obj = getattr(m, name, None)
        if obj is None: continue
        link = src if src and _exported(name, modidx, mod) else ''
        head = f'<a href="{link}">{html.escape(name)}</a>' if link else html.escape(name)
        kind = 'class' if inspect.isclass(obj) else 'function' if callable(obj) else 'value'
        parts.append(f'<h2 id="{name.lower()}">{head} <small>({kind})</small></h2>')
        if callable(obj):
            parts.append(f'<code class="sig">{html.escape(name + _signature(obj))}</code>')
            parts.append(_md(inspect.getdoc(obj) or ''))
            parts.append(_params_table(obj))
        else:
            r = repr(obj)
            parts.append(f'<code class="sig">{html.escape(r[:300] + ("…" if len(r) > 300 else ""))}</code>')
        if inspect.isclass(obj):
            for meth, f in inspect.getmembers(obj, callable):
                if meth.startswith('_') or meth not in vars(obj): continue
                if getattr(f, '__module__', mod) not in (mod, None) and not _exported(f'{name}.{meth}', modidx, mod): continue
                parts.append(f'<h3 id="{name.lower()}.{meth.lower()}"><code>{html.escape(name)}.{html.escape(meth)}</code></h3>')
                parts.append(f'<code class="sig">{html.escape(meth + _signature(f))}</code>')
                parts.append(_md(inspect.getdoc(f) or ''))
                parts.append(_params_table(f))
    return mod, '\n'.join(parts) + '</div>'

def _mathjax(out:Path) -> str:
    "Copy MathJax (from the jupyter-server-mathjax package: no CDN) into the site; the URL pages load it from."
    try: import jupyter_server_mathjax
    except ImportError:
        print("jupyter-server-mathjax is not installed: formulas are shown as TeX source (pip install -r requirements-ci.txt)")
        return ''
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / 'static', out / 'mathjax',
                    ignore=shutil.ignore_patterns('localization'))
    return 'mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe'

def build(out:Path, strict:bool=True) -> list:
    "Build the site into `out`; returns the pages written."
    import nbformat
    from nbconvert import HTMLExporter
    modidx = importlib.import_module(f'{LIB}._modidx').d['syms']
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    nbs = teaching_notebooks()
    index = [p for p in nbs if p.stem == 'index']
    nbs = index + [p for p in nbs if p.stem != 'index']
    read = {p: nbformat.read(p, as_version=4) for p in nbs}
    missing = [p.name for p, nb in read.items()                 # never executed by `make notebooks`
               if not any(c.cell_type == 'code' and KEY in c.get('metadata', {}) for c in nb.cells)]
    if strict and missing:
        sys.exit(f"these notebooks were never executed with outputs: {', '.join(missing)}; run `make notebooks` first "
                 "(or pass --allow-empty to build pages without them)")
    pages = [(page_name(p), ('Home' if p.stem == 'index' else f"{p.stem.split('_')[0]} · {_title(nb) or p.stem}"))
             for p, nb in read.items()]
    mods = sorted(f'{LIB}.{p.stem}' for p in (ROOT / LIB).glob('*.py') if not p.stem.startswith('_'))
    api = [(f'api_{m.split(".")[-1]}.html', m.split('.')[-1]) for m in mods]
    reports = []
    for d in sorted((ROOT / 'data').glob('repro-*')):
        if (d / 'REPORT.md').exists(): reports.append((f'{d.name}/REPORT.html', f"report: {d.name.split('-', 1)[1]}"))
    nb_of = {}
    for p in nbs:
        m = re.search(r'#\|\s*default_exp\s+(\S+)', '\n'.join(c.source for c in read[p].cells if c.cell_type == 'code'))
        if m: nb_of[f'{LIB}.{m.group(1)}'] = page_name(p)
    exporter = HTMLExporter(template_name='lab', mathjax_url=_mathjax(out))
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    written = []
    for p, nb in read.items():
        body, _ = exporter.from_notebook_node(_prepare(nb))
        here = page_name(p)
        (out / here).write_text(_inject(body, _nav(pages, api, reports, here)))
        written.append(here)
    for (href, title), mod in zip(api, mods):
        t, body = api_page(mod, modidx, nb_of)
        (out / href).write_text(_wrap(body, t, _nav(pages, api, reports, href)))
        written.append(href)
    for href, title in reports:
        src = ROOT / 'data' / href.split('/')[0]
        dest = out / href.split('/')[0]
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns('*.json', '*.md'))
        nav = _nav([(f'../{h}', t) for h, t in pages], [(f'../{h}', t) for h, t in api],
                   [(f'../{h}', t) for h, t in reports], f'../{href}')
        body = f'<div class="dcae-plain">{_md((src / "REPORT.md").read_text())}</div>'
        (out / href).write_text(_wrap(body, title, nav))
        written.append(href)
    (out / '.nojekyll').write_text('')
    return written

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', default=str(ROOT / '_docs'), help="folder to write the site into (replaced)")
    p.add_argument('--allow-empty', action='store_true', help="build even when notebooks have no saved outputs")
    a = p.parse_args(argv)
    pages = build(Path(a.out), strict=not a.allow_empty)
    size = sum(f.stat().st_size for f in Path(a.out).rglob('*') if f.is_file())
    print(f"{len(pages)} pages written to {a.out} ({size / 1e6:.1f} MB); open {a.out}/index.html")

if __name__ == '__main__': main()
