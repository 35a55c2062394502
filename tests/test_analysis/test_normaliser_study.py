"""tools/analysis_tools/normaliser_study.py: its table, and that a ledger's runs are not redone."""
import importlib.util
import json
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'normaliser_study', osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'normaliser_study.py'))
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)


def record(normaliser, lr, seed, top1, loss=0.3):
    return dict(normaliser=normaliser, lr=lr, seed=seed, returncode=0, val_top1=top1,
                final_loss=loss, max_loss=loss, finite=loss == loss, wall_s=600)


def test_table_groups_seeds_per_normaliser_and_lr():
    rows = study.table([record('unrotated', 1e-3, 1, 97.0), record('pair_norm', 1e-3, 0, 97.5),
                        record('unrotated', 1e-3, 0, 96.0),
                        record('pair_norm', 1e-2, 0, None, float('nan'))]).splitlines()
    assert rows[2] == ('| 0.001 | pair_norm | 97.5 (s0) | 97.5 | 0.300 | 600 s |')
    assert rows[3] == ('| 0.001 | unrotated | 96.0 (s0) / 97.0 (s1) | 96.5 | 0.300 / 0.300 | '
                       '600 s / 600 s |')
    assert rows[4] == '| 0.01 | pair_norm | failed (s0) | - | nan | 600 s |'


def test_runs_in_the_ledger_are_not_trained_again(tmp_path, monkeypatch):
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    (out_dir / 'normaliser_study.json').write_text(json.dumps([record('pair_norm', 1e-3, 0, 97.5)]))
    trained = []
    monkeypatch.setattr(study, 'train', lambda n, lr, seed, root: trained.append((n, lr, seed))
                        or record(n, lr, seed, 90.0))
    monkeypatch.setattr(sys, 'argv', ['study', '--seeds', '0', '--work-dir', str(tmp_path / 'w'),
                                      '--out-dir', str(out_dir)])
    study.main()
    assert trained == [('unrotated', 1e-3, 0)]
    ledger = json.loads((out_dir / 'normaliser_study.json').read_text())
    assert {(r['normaliser'], r['val_top1']) for r in ledger} == {('pair_norm', 97.5),
                                                                  ('unrotated', 90.0)}
    assert '| 0.001 | unrotated | 90.0 (s0) |' in (out_dir / 'normaliser_study.md').read_text()
