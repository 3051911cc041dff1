#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md once, each writing its record under results/benchmarks/, then the
# generated table rewritten from the latest records. Run it on a quiet machine (nothing else running):
#     bash benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python3 benchmarks/bench_fc.py --threads 1 --rounds 5 --record
python3 benchmarks/bench_fc.py --rounds 5 --record
OMP_NUM_THREADS=1 python3 benchmarks/bench_cnn.py --images 200 --rounds 3 --record
OMP_NUM_THREADS=1 python3 benchmarks/bench_lstm.py --steps 20 --record
OMP_NUM_THREADS=1 python3 benchmarks/bench_ctf.py --slots 100,1000 --batches 1,100 --rounds 3 --record
OMP_NUM_THREADS=1 python3 benchmarks/bench_algorithms.py --threads 1 --rounds 3 --record
OMP_NUM_THREADS=1 python3 benchmarks/bench_memory.py --record
OMP_NUM_THREADS=1 python3 benchmarks/bench_scaling.py --threads 1 --record
rpusim report --all
