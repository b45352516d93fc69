"""What a reader sees, checked in a real browser (headless Chromium driven by Playwright): JupyterLab opens the
notebooks with their saved figures, no kernel dialog and no unsaved-changes mark, and runs one; the built docs site
shows its pages, figures and API pages.

Needs Debian's Chromium (`apt-get install chromium`; `make test` installs it where it can) and the Python packages
playwright and jupyterlab (in requirements-ci.txt). Without them the tests are skipped, and say why."""
import functools, http.server, json, os, shutil, socket, subprocess, sys, threading, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]
CHROMIUM = os.environ.get('DCAE_CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser')


def _missing():
    if not CHROMIUM: return "no Chromium found (apt-get install chromium, or set DCAE_CHROMIUM to its path)"
    for mod in ('playwright', 'jupyterlab'):
        try: __import__(mod)
        except ImportError: return f"Python package {mod} missing (pip install -r requirements-ci.txt)"
    return None

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(_missing()), reason=f"browser test skipped: {_missing()}")]


def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _wait_http(url, proc=None, timeout=90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None: raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2): return
        except Exception: time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        yield b
        b.close()


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "JupyterLab on localhost, serving a copy of nbs/ (so running a notebook cannot touch the checkout)."
    root = tmp_path_factory.mktemp('lab')
    shutil.copytree(ROOT/'nbs', root/'nbs', ignore=shutil.ignore_patterns('runs', '.ipynb_checkpoints', 'repro'))
    port = _free_port()
    # the project's kernel, as `make install` registers it (here pointing at this interpreter)
    spec = root/'share'/'kernels'/'dcae_nb'; spec.mkdir(parents=True)
    (spec/'kernel.json').write_text(json.dumps({'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
                                                'display_name': 'dcae_nb', 'language': 'python'}))
    env = {**os.environ, 'JUPYTER_PATH': str(root/'share'), 'JUPYTER_CONFIG_DIR': str(root/'cfg'), 'JUPYTER_RUNTIME_DIR': str(root/'rt'),
           'JUPYTERLAB_SETTINGS_DIR': str(root/'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(root/'ws')}
    proc = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1',
                             '--IdentityProvider.token=', '--ServerApp.password=', '--allow-root',
                             f'--ServerApp.root_dir={root/"nbs"}', '--LabApp.expose_app_in_browser=True',
                             '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(root/'lab.log', 'w'))
    try:
        _wait_http(f'http://127.0.0.1:{port}/api/status', proc)
        yield f'http://127.0.0.1:{port}', root
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill()


def _open_notebook(page, base, name):
    page.goto(f'{base}/lab/tree/{name}', wait_until='domcontentloaded')
    page.wait_for_selector('.jp-NotebookPanel .jp-Cell', timeout=60_000)
    page.wait_for_function("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                           " return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
                           " && w.sessionContext.session.kernel.status === 'idle'; }", timeout=90_000)
    page.wait_for_timeout(1500)        # let any dialog or metadata rewrite show itself


def _check_rendered(page, name, min_images=1, min_shown=1):
    "No dialog; the saved figures are in the notebook JupyterLab loaded (its model), and the first `min_shown` of"
    "them are drawn (JupyterLab 4 draws only the cells near the viewport, so figures far down are counted in the model)."
    saved = page.evaluate("() => { const cells = window.jupyterapp.shell.currentWidget.content.model.cells; let n = 0;"
                          " for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type !== 'code') continue;"
                          "   n += c.outputs.toJSON().filter(o => o.data && o.data['image/png']).length; } return n; }")
    assert saved >= min_images, f"{name}: {saved} saved figures in the notebook JupyterLab opened"
    min_images = min_shown
    assert page.locator('.jp-Dialog').count() == 0, f"{name}: a dialog opened ({page.locator('.jp-Dialog').inner_text()[:200]})"
    sel = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img'
    try: page.wait_for_function(f"() => document.querySelectorAll({sel!r}).length >= {min_images}", timeout=30_000)
    except Exception: pass                                       # counted (and reported) below
    imgs = page.eval_on_selector_all('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img',
                                     'els => els.map(e => e.complete && e.naturalWidth > 0)')
    assert len(imgs) >= min_images and all(imgs), f"{name}: {len(imgs)} saved figures shown, {imgs.count(False)} broken"
    dirty = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
    assert not dirty, f"{name}: marked modified on open (JupyterLab rewrote something): run `make notebooks`"


def test_lab_shows_saved_figures_and_runs(lab, browser):
    base, root = lab
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    errors = []; page.on('pageerror', lambda e: errors.append(str(e)))
    _open_notebook(page, base, 'index.ipynb'); _check_rendered(page, 'index.ipynb')
    _open_notebook(page, base, '01_shortcuts.ipynb'); _check_rendered(page, '01_shortcuts.ipynb', min_shown=0)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; const cells = w.content.model.cells; let done = true;"
        " let failed = false; for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type !== 'code') continue;"
        "   if (c.sharedModel.getSource().trim() && c.executionCount === null) done = false;"
        "   if (c.outputs.toJSON().some(o => o.output_type === 'error')) failed = true; }"
        " return (done || failed) && w.sessionContext.session.kernel.status === 'idle'; }", timeout=240_000)
    outs = page.evaluate(
        "() => { const cells = window.jupyterapp.shell.currentWidget.content.model.cells; const r = [];"
        " for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type === 'code') r.push(c.outputs.toJSON()); }"
        " return r; }")
    errs = [o for cell in outs for o in cell if o.get('output_type') == 'error']
    assert not errs, f"01_shortcuts.ipynb raised when run in JupyterLab: {errs[0].get('ename')}: {errs[0].get('evalue')}"
    assert sum('image/png' in o.get('data', {}) for cell in outs for o in cell) >= 1, "no figure after running 01_shortcuts"
    assert not errors, f"uncaught errors in the page: {errors[:3]}"
    page.close()


@pytest.fixture(scope='module')
def docs_site(tmp_path_factory):
    sys.path.insert(0, str(ROOT/'tools'))
    from build_docs import build
    out = tmp_path_factory.mktemp('docs')/'site'
    build(out)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(out))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}', out
    srv.shutdown()


def test_docs_site_renders(docs_site, browser):
    base, out = docs_site
    page = browser.new_page(viewport={'width': 1300, 'height': 900})
    errors = []; page.on('pageerror', lambda e: errors.append(str(e)))
    for name, min_images in (('index.html', 1), ('01_shortcuts.html', 1), ('13_dit.html', 1)):
        page.goto(f'{base}/{name}', wait_until='load')
        nav = page.locator('nav.dcae-nav a').count()
        assert nav > 20, f"{name}: navigation has {nav} links"
        imgs = page.eval_on_selector_all('main img', 'els => els.map(e => e.complete && e.naturalWidth > 0)')
        assert len(imgs) >= min_images and all(imgs), f"{name}: {len(imgs)} figures, {imgs.count(False)} broken"
        assert page.locator('.jp-Cell').count() > 3, f"{name}: no notebook cells rendered"
    page.goto(f'{base}/api_shortcuts.html', wait_until='load')
    assert page.locator('h2#channel_average').count() == 1, "API page lacks channel_average"
    assert page.locator('h2 a[href^="01_shortcuts.html"]').count() > 2, "API entries do not link to their notebook"
    for link in page.eval_on_selector_all('nav.dcae-nav a', 'els => els.map(e => e.getAttribute("href"))'):
        assert (out/link).exists(), f"navigation links to a missing page: {link}"
    assert not errors, f"uncaught errors in the docs pages: {errors[:3]}"
    page.close()
