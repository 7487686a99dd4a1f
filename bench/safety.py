"""Benchmark: the cost of the moderation rules on the request path (goal: < 1 ms a request).

Times ``run_rules`` over the rules every request passes (the queue caps, denied members, the
server's blocklist with 1000 entries, quotas with a busy ledger) for a few prompts: an everyday
one, a long one at the 1000-character limit, and hostile ones (spelled-out letters, look-alikes
and zero-width characters, which take the slow folding path). Pure CPU: no database, no model.
Then the safety checker's cost per image as a ratio to the generation (bench/_safety_checker.py):
measured with a model and a checker of SD 1.x's architecture, and counted in FLOPs for SD 1.5.

    python bench/safety.py                      # 1000 rules (990 words and phrases, 10 regexes)
    python bench/safety.py --rules 5000 --regexes 50 --repeat 2000
    python bench/safety.py --checker none       # the rules only
    python bench/safety.py --model random-sd1 --device cuda --steps 25   # on a GPU
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # bench/queue.py would shadow the standard library's queue module

import argparse
import json
import random
import statistics
import time
from typing import Any

from bot.domain.blocklist import Blocklist, parse_rule
from bot.domain.jobs import Requester
from bot.domain.moderation import Blocklists, Denial, DeniedMembers, GuildPolicy, Policies, Quotas
from bot.domain.quotas import QuotaLimits
from bot.domain.recipe import Recipe
from bot.domain.rules import QueueCaps, RuleContext, run_rules
from bot.domain.scheduling import Caps

GUILD = 1
PROMPTS = {
    "everyday": ("a cozy cabin in a snowy forest at dusk, warm light in the windows, "
                 "highly detailed, oil painting, trending on artstation",
                 "lowres, blurry, watermark, text"),
    "long (1000 chars)": (("a lighthouse on a cliff above a stormy sea, dramatic clouds, "
                           * 20)[:1000], "lowres, blurry"),
    "spelled out": (" ".join("a lighthouse on a cliff above a stormy sea") * 3, ""),
    "look-alikes, zero-width": ("а ｌｉｇｈｔ\u200bhouse оn а сliff, ⓢⓣⓞⓡⓜⓨ ѕеа, "
                                "l1ghth0use @ dusk" * 4, "b\u200dlurry"),
}


def _words(count: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < count:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        words.add(word if rng.random() < 0.8 else f"{word} {rng.choice(sorted(words or {'x'}))}")
    return sorted(words)


def build(rule_count: int, regex_count: int) -> tuple[list[Any], Policies]:
    """The rules every request passes, with a server policy of ``rule_count`` entries."""
    rng = random.Random(14)
    texts = _words(rule_count - regex_count, rng)
    texts += [f"re:\\b{word[:4]}[a-z]{{0,3}}\\d*\\b" for word in _words(regex_count, rng)]
    rules = [parse_rule(text) for text in texts]
    policies = Policies(default_quotas=QuotaLimits(per_minute=10, per_hour=100, per_day=500))
    policies.guilds[GUILD] = GuildPolicy(
        blocklist=Blocklist.of(rules), exempt_roles=frozenset({5}),
        denied={user: Denial(GUILD, user, "spam") for user in range(1000, 1100)})
    now = time.time()
    for user in range(200):  # a busy ledger: 200 people, 50 images each in the last day
        for k in range(50):
            policies.ledger.note(GUILD, user, now - k * 1500.0)
    chain = [QueueCaps(Caps(per_user=5, total=200)), DeniedMembers(policies),
             Blocklists(policies), Quotas(policies)]
    return chain, policies


def measure(chain: list[Any], prompt: str, negative: str, repeat: int) -> list[float]:
    """Microseconds per request, one sample per request."""
    requester = Requester(user_id=7, guild_id=GUILD, channel_id=10, source="discord")
    recipe = Recipe(prompt=prompt, negative=negative)
    samples = []
    for _ in range(repeat):
        context = RuleContext(recipes=(recipe,), requester=requester, priority=0,
                              origin="discord", waiting=(), now=time.time())
        start = time.perf_counter()
        run_rules(chain, context)
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def main(argv: list[str] | None = None) -> int:
    """Print a table; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--regexes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/safety.json")
    parser.add_argument("--checker", choices=("sd1", "tiny", "none"), default="sd1",
                        help="the safety checker's architecture (random weights), or none")
    parser.add_argument("--model", default="tiny", help="tiny | random-sd1 | a model source")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--images", type=int, default=2, help="images per generation call")
    args = parser.parse_args(argv)
    chain, _ = build(args.rules, args.regexes)
    rows = []
    print(f"request rules with a {args.rules}-entry blocklist ({args.regexes} regexes), "
          f"{args.repeat} requests each")
    # On a busy machine the mean and p99 carry other processes' time slices; min and p50 are
    # the rules' own cost.
    print(f"{'prompt':26} {'min µs':>9} {'p50 µs':>9} {'mean µs':>9} {'p99 µs':>9}")
    for name, (prompt, negative) in PROMPTS.items():
        measure(chain, prompt, negative, 50)  # warm up
        samples = sorted(measure(chain, prompt, negative, args.repeat))
        row = {"prompt": name, "chars": len(prompt) + len(negative),
               "min_us": samples[0], "mean_us": statistics.fmean(samples),
               "p50_us": samples[len(samples) // 2],
               "p99_us": samples[int(len(samples) * 0.99) - 1]}
        rows.append(row)
        print(f"{name:26} {row['min_us']:9.1f} {row['p50_us']:9.1f} {row['mean_us']:9.1f} "
              f"{row['p99_us']:9.1f}")
    result: dict[str, Any] = {"rules": args.rules, "regexes": args.regexes,
                              "repeat": args.repeat, "rows": rows}
    if args.checker != "none":
        result["checker"] = checker_cost(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


def checker_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Print and return the safety checker's cost per image against the generation's."""
    from bench._models import load_model
    from bench._safety_checker import counted, measured

    engine = load_model(args.model, device=args.device)
    timed = measured(engine, args.checker, size=args.size, steps=args.steps,
                     images=args.images, repeat=2)
    print(f"\nsafety checker ({args.checker}) on {timed['device']}, {args.images} image(s) of "
          f"{args.size}² at {args.steps} steps with {timed['model']}:")
    print(f"  generation {timed['generation_s_per_image'] * 1000:9.1f} ms/image")
    print(f"  checker    {timed['checker_s_per_image'] * 1000:9.1f} ms/image   "
          f"ratio {timed['ratio']:.1%}")
    flops = counted(size=args.size, steps=args.steps)
    print(f"  SD 1.5 counted: generation {flops['generation_tflop']:.1f} TFLOP/image, checker "
          f"{flops['checker_tflop']:.3f} TFLOP: ratio {flops['ratio']:.2%} (goal ≤ 5 %)")
    return {"measured": timed, "counted_sd15": flops}


if __name__ == "__main__":
    sys.exit(main())
