"""Do two reproduction runs agree? Prints every claim's verdict in run A and run B (recomputed from each run's
numbers, as REPORT.md does) and the claims whose verdicts differ.

    python tools/compare_runs.py data/repro-quick data/repro-quick-seed10
"""
import argparse, sys
from dcae_nb.verdicts import NOT_MEASURABLE
from dcae_nb.repro import collect

def verdicts(folder) -> dict:
    "{claim id: (kind, verdict, kit text)} of one run folder."
    _, results = collect(folder)
    return {c['id']: (c.get('kind', 'experiment'), c['verdict'], c.get('kit', '')) for r in results for c in r['claims']}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('a', help="first run folder (with run.json and NN_name/results.json)")
    p.add_argument('b', help="second run folder")
    p.add_argument('--all', action='store_true', help="print every claim, not only those that differ")
    a = p.parse_args(argv)
    va, vb = verdicts(a.a), verdicts(a.b)
    ids = list(va) + [i for i in vb if i not in va]
    differ = [i for i in ids if va.get(i, (None, None))[1] != vb.get(i, (None, None))[1]]
    for i in ids:
        if a.all or i in differ:
            print(f"{'≠' if i in differ else '='} {i:48s} {va.get(i, ('', 'absent'))[1]:28s} {vb.get(i, ('', 'absent'))[1]}")
    exp = [i for i in ids if va.get(i, vb.get(i))[0] == 'experiment' and va.get(i, vb.get(i))[1] != NOT_MEASURABLE]
    print(f"{len(ids) - len(differ)} of {len(ids)} verdicts agree; measured experiments: "
          f"{len([i for i in exp if i not in differ])} of {len(exp)}")
    return 1 if differ else 0

if __name__ == '__main__': sys.exit(main())
