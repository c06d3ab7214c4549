"""CPU per order of ``POST /api/v1/orders`` by process, over HTTP, at fixed rates.

    .venv/bin/python -m devtools.intake_processes --rates 600,1000 --seconds 8 --rounds 2

The intake as ``make bench`` serves it (``bench/intake.py``: granian as ``Procfile``'s
``http:`` line runs it, on a private PostgreSQL and Redis started for the run, the rate limit
checked), wrk posting new orders at each rate in turn; for each step it prints the rate
achieved, the P99, and the CPU per order of granian (its workers included), PostgreSQL
(every backend and helper), Redis and wrk, and of the whole machine (other people's work
included), then the Redis commands per order. The steps are shorter and fewer than the
bench's ramp: for A/B runs of two checkouts in turn (``PYTHONPATH=<checkout>``, run from
the checkout), where the split by process tells what a change moved.
"""

import argparse
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="600,1000", help="orders/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="per step")
    parser.add_argument("--rounds", type=int, default=1, help="times through the rates")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",")]

    from bench import environment

    env = environment.apply()
    try:
        environment.recreate_database()
        import django

        django.setup()
        _run(env, environment.engines(), rates, args.seconds, args.rounds)
    finally:
        environment.stop()


def _run(env, engines, rates, seconds, rounds) -> None:
    import redis
    from django.core.management import call_command

    from bench import cpu, intake, live
    from orders import services

    call_command("migrate", verbosity=0)
    shop, skus = live.shop_with_catalog("Intake processes shop")
    _, raw_key = services.api_key_create(shop=shop, name="wrk")
    pids = engines.pids()
    counter = redis.Redis.from_url(engines.redis_url)
    print(
        f"{'rate':>6} {'got':>7} {'P99 ms':>7} | CPU ms per order: {'granian':>7} "
        f"{'postgres':>8} {'redis':>6} {'wrk':>6} {'box':>6} | redis cmds/order"
    )
    with intake._serving("granian", env, (), lean=True, key=raw_key, skus=skus) as (base, server):
        url = base + "/api/v1/orders"
        for rate in [rate for _ in range(rounds) for rate in rates]:
            meter = cpu.Meter(
                {
                    "granian": [server.process.pid],
                    "postgres": [pids["postgres"]],
                    "redis": [pids["redis"]],
                }
            )
            counter.config_resetstat()
            waited = os.times()  # wrk's CPU: a child this process waits for
            meter.start()
            step = intake.wrk_step(url, rate=rate, key=raw_key, skus=skus, seconds=seconds)
            spent = meter.stop()
            done = os.times()
            spent["wrk"] = (done.children_user - waited.children_user) + (
                done.children_system - waited.children_system
            )
            commands = sum(s["calls"] for s in counter.info("commandstats").values())
            orders = max(step["requests"], 1)
            per = {kind: seconds_ / orders * 1000 for kind, seconds_ in spent.items()}
            print(
                f"{rate:>6} {step['achieved_rate']:>7} {step['p99_ms']:>7} | {'':>18}"
                f"{per['granian']:>7.3f} {per['postgres']:>8.3f} {per['redis']:>6.3f} "
                f"{per['wrk']:>6.3f} {per['_box_busy']:>6.3f} | {commands / orders:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
