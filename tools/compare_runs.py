"""Do two reproduction runs agree? Prints every claim's verdict in run A and run B (recomputed from each run's
numbers, as REPORT.md does, under the power plan each was run with) and the claims whose verdicts differ.

    python tools/compare_runs.py data/repro-quick data/repro-quick-seed10
    python tools/compare_runs.py data/repro-quick data/repro-quick-seed10 --plan quick   # both judged under a plan

`--plan` judges both runs under the plan given (a shipped name such as 'quick', or a file), in place of the one each
was run with, e.g. to read runs made before a plan existed under it (for the plan's own pilot runs that is in-sample).
"""
import argparse, sys
from dcae_nb.verdicts import NOT_MEASURABLE, check_claim, load_power_plan
from dcae_nb.repro import collect

def verdicts(folder, plan=None) -> dict:
    "{claim id: (kind, verdict, kit text)} of one run folder (judged under `plan` when one is given)."
    _, results = collect(folder)
    return {c['id']: (c.get('kind', 'experiment'), c['verdict'], c.get('kit', ''))
            for r in results for c in (r['claims'] if plan is None else [check_claim(c, plan) for c in r['claims']])}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('a', help="first run folder (with run.json and NN_name/results.json)")
    p.add_argument('b', help="second run folder")
    p.add_argument('--all', action='store_true', help="print every claim, not only those that differ")
    p.add_argument('--plan', default=None, help="judge both runs under this power plan (a shipped name such as 'quick', or a "
                                                "file) instead of the one each ran with")
    a = p.parse_args(argv)
    plan = load_power_plan(a.plan) if a.plan else None
    va, vb = verdicts(a.a, plan), verdicts(a.b, plan)
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
