"""contentgen's benchmarks.

The suite (`bench/run [--quick] [--only NAME] [--out DIR]`, or `make bench`):
- suite.py: the command line; runs each measure in a process of its own and writes the report;
- measures/: one module per measure, each with its `NAME` for `--only` and its `run`;
- config.py: the loads of a full and a quick run, the designs measured, the servers under test;
- load.py: the publisher and a run of SSE streams under it, shared by the stream measures;
- queued.py: queued jobs in bulk, and clearing what earlier measures left;
- report.py: the tables, REPORT.md, results.json and the plots;
- index.py: results/INDEX.md, one row per past run;
- common.py: servers under test, the client process (clients.py), the embedded services, figures;
- fanout_baseline.py, channels_baseline.py, polling_baseline.py: the baselines' ASGI applications.

Standalone scripts, each run as `python bench/<script>.py` and described in its docstring: chaos.py
(with chaos_cluster.py), eta_eval.py, job_actions.py, job_lists.py, latest_reads.py, local_model.py,
pipeline_throughput.py, retry_records.py, screenshot.py and store_growth.py; standalone.py holds the
command line several of them share.
"""
