"""Generation time per profile and reader throughput: python benchmarks/bench_data.py [--profile smoke|cpu]."""
from mglib.data.bench import main

if __name__ == "__main__":
    print(main().to_string(index=False, float_format=lambda x: f"{x:.3g}"))
