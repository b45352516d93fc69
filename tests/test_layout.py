"""The package's layout (CONTRIBUTING.md, "Where things live"): every module sits on one floor and imports only modules on
the floors below it, lazily or not, so the import graph has no circle; and no module grows past about 450 lines."""
import ast
from pathlib import Path
import pytest

PKG = Path(__file__).parents[1] / 'dcae_nb'
# lowest first: a module may import any module before it, never one after it
FLOORS = ['core', 'shortcuts', 'blocks', 'autoencoder', 'start', 'checkpoints', 'tiling', 'assets', 'data', 'metrics', 'losses',
          'train_parts', 'trainer', 'phases', 'diffusion', 'dit', 'latents', 'latent_dit', 'measure', 'profiling', 'profile_ae',
          'profile_report', 'verdicts', 'repro', 'recipe', 'jobs', 'cli']
MAX_LINES = 460
OVER = {}


def modules() -> dict:
    return {p.stem: p for p in sorted(PKG.glob('*.py')) if p.stem not in ('__init__', '_modidx')}


def imports_of(path:Path) -> set:
    "Every dcae_nb module `path` imports, at the top or inside a function."
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom):
            if n.level == 1 and n.module: out.add(n.module.split('.')[0])
            elif n.level == 1: out |= {a.name for a in n.names}
            elif n.module and n.module.startswith('dcae_nb.'): out.add(n.module.split('.')[1])
            elif n.module == 'dcae_nb': out |= {a.name for a in n.names}
        elif isinstance(n, ast.Import):
            out |= {a.name.split('.')[1] for a in n.names if a.name.startswith('dcae_nb.')}
    return out & set(modules()) - {path.stem}


def test_every_module_has_a_floor():
    assert sorted(modules()) == sorted(FLOORS), "add a new module to FLOORS (and to CONTRIBUTING.md's table)"


@pytest.mark.parametrize('name', FLOORS)
def test_imports_only_lower_floors(name):
    path = modules()[name]
    up = sorted(m for m in imports_of(path) if FLOORS.index(m) > FLOORS.index(name))
    assert not up, f"dcae_nb.{name} imports {up}, on a higher floor: move the shared part down, or the caller up"


def test_the_cli_names_what_it_drives():
    "The entry point's imports show every module that implements a command (none is imported by a computed name)."
    assert 'import_module' not in (PKG / 'cli.py').read_text(), "cli.py imports a command's module by a computed name"
    drives = {'assets', 'metrics', 'checkpoints', 'phases', 'latents', 'latent_dit', 'profile_report', 'repro'}
    assert drives <= imports_of(PKG / 'cli.py'), sorted(drives - imports_of(PKG / 'cli.py'))


@pytest.mark.parametrize('name', FLOORS)
def test_only_the_cli_knows_argparse(name):
    "Options, value parsers and help live in dcae_nb.cli; a library module takes plain values."
    uses = any(isinstance(n, (ast.Import, ast.ImportFrom)) and 'argparse' in ([a.name for a in n.names] if isinstance(n, ast.Import) else [n.module])
               for n in ast.walk(ast.parse(modules()[name].read_text())))
    assert name == 'cli' or not uses, f"dcae_nb.{name} imports argparse: declare its options in nbs/17_cli.ipynb"


@pytest.mark.parametrize('name', FLOORS)
def test_module_size(name):
    n = len(modules()[name].read_text().splitlines())
    assert n <= OVER.get(name, MAX_LINES), f"dcae_nb.{name} has {n} lines: split it (a notebook per part, as 10a, 14a, 15a-c)"
