"""Packaging for dcae_nb. Metadata and requirements come from settings.ini (nbdev 2.x).

Does not import `pkg_resources` (removed from recent setuptools)."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
config = ConfigParser(delimiters=['='])
config.read(here/'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
min_python = cfg['min_python']
py_versions = ['3.10', '3.11', '3.12', '3.13']

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'],
    url=cfg['git_url'], license='Apache-2.0',
    keywords=cfg['keywords'].split(),
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()] +
                ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    # `data/` (photo manifest, weight manifest, paper tables) ships inside the wheel as `dcae_nb.pkgdata`
    # and the reproduction notebooks (`nbs/repro/`) as `dcae_nb.repro_nbs`, so `dcae reproduce` works from a wheel.
    packages=setuptools.find_packages(include=['dcae_nb', 'dcae_nb.*']) + ['dcae_nb.pkgdata', 'dcae_nb.repro_nbs', 'dcae_nb.repro_nbs.params'],
    package_dir={'dcae_nb.pkgdata': 'data', 'dcae_nb.repro_nbs': 'nbs/repro', 'dcae_nb.repro_nbs.params': 'nbs/repro/params'},
    package_data={'dcae_nb.pkgdata': ['*.csv', '*.json', '*.md', '*.yaml'],
                  'dcae_nb.repro_nbs': ['*.ipynb'], 'dcae_nb.repro_nbs.params': ['*.yaml']},
    include_package_data=True,
    install_requires=requirements,
    extras_require={'dev': dev_requirements},
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
