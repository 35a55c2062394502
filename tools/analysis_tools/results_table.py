"""Params, FLOPs and final metrics of mmengine work dirs as README tables and a metafile.

    python tools/analysis/results_table.py WORK_DIR [WORK_DIR ...] [--markdown FILE]
        [--update-readme README] [--metafile FILE [--model-index model-index.yml]]
        [--no-flops | --no-complexity] [--flops-shape H W] [--complexity-json FILE ...]
        [--skip-invalid]

What is read from where, the formats and the rules are documented in
mmsola/analysis/results_table.py.
"""
import sys

from mmsola.analysis.results_table import main

if __name__ == '__main__':
    sys.exit(main())
