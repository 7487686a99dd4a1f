"""``bench/queue.py burst``: many ``/dream``s at once over the wire-level fake Discord.

Caps hold, the light users' median wait, the peak memory of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._models import load_model


async def _burst(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bot.app import open_app
    from bot.client.bot import NeurostreamBot
    from bot.config import settings_from_dict
    from tests.fake_discord import FakeDiscord, run_client

    async with FakeDiscord(token="burst-token") as fake:
        fake.patch_discord()
        guild = fake.add_guild("g")
        channel = fake.add_channel(guild, "cats")
        members = [fake.add_member(guild, f"user{i}") for i in range(args.users)]
        heavy = members[: args.users // 5]  # a fifth of the users send most of the requests
        light = members[len(heavy):]
        per_heavy = (args.dreams - len(light)) // max(1, len(heavy))
        plan = [m for m in heavy for _ in range(per_heavy)] + list(light)
        plan += heavy[: args.dreams - len(plan)]
        settings = settings_from_dict(
            {"storage": {"database": "burst.db", "output_dir": "out"},
             "discord": {"dev_guild_ids": [guild.id]},
             "queue": {"max_per_user": args.cap, "max_total": args.total_cap, "max_batch": 1}},
            base_dir=workdir)
        options = {"prompt": "a cat", "width": args.size, "height": args.size,
                   "steps": args.steps}
        async with open_app(settings, sources=("discord",), recover=False,
                            factory=lambda: load_model(args.model, args.device)) as app:
            bot = NeurostreamBot(app, settings, guild_ready_timeout=0.05)
            async with run_client(fake, bot):
                peak_waiting: dict[int, int] = {}

                def watch_caps() -> None:
                    counts: dict[int, int] = {}
                    for job in app.queue.waiting():
                        uid = job.requester.user_id or 0
                        counts[uid] = counts.get(uid, 0) + 1
                    for uid, count in counts.items():
                        peak_waiting[uid] = max(peak_waiting.get(uid, 0), count)

                # Interleave: light users' requests arrive spread through the heavy burst.
                order = sorted(range(len(plan)), key=lambda i: (i * 7919) % len(plan))
                sent_at: dict[int, float] = {}
                handles = []
                start = time.monotonic()
                for index in order:
                    handle = await fake.send_command(guild, channel, plan[index], "dream",
                                                     options)
                    sent_at[handle.id] = time.monotonic()
                    handles.append((plan[index], handle))
                    watch_caps()
                acked = []
                for member, handle in handles:
                    try:
                        await handle.wait_acked(timeout=10)
                        acked.append((member, handle))
                    except TimeoutError:
                        pass
                def settled(handle: Any) -> bool:
                    # Queued (waiting message shown) or refused (ephemeral answer, or the
                    # "thinking…" taken back after losing a race for a place under a cap).
                    original = handle.original
                    return original is not None and (original.deleted or original.is_ephemeral
                                                     or not original.is_loading)

                await fake.wait_for(lambda: all(settled(h) for _, h in acked), timeout=300,
                                    what="every /dream answered")
                def queued(handle: Any) -> bool:
                    original: Any = handle.original
                    return not original.deleted and not original.is_ephemeral

                accepted = [(m, h) for m, h in acked if queued(h)]
                refused = len(acked) - len(accepted)

                def delivered() -> bool:
                    watch_caps()
                    return all(getattr(h.original, "attachments", None) for _, h in accepted)

                await fake.wait_for(delivered, timeout=3600, what="every result")
                # Queue waits from the job table (created → started), apart from delivery.
                from bot.domain.jobs import JobState

                queue_waits: dict[int, list[float]] = {}
                for job in await app.jobs.in_states([JobState.DONE]):
                    queue_waits.setdefault(job.requester.user_id or 0, []).append(
                        (job.started_at or job.created_at) - job.created_at)
                uploads: dict[str, float] = {}
                for request in fake.requests:  # the result's upload, not a preview's
                    if any(str(f.get("filename", "")).endswith((".png", ".webp"))
                           for f in request.files):
                        uploads.setdefault(request.path.split("/")[3], request.at)
                waits: dict[int, list[float]] = {}
                unattributed = 0  # results that went out another way (e.g. to the channel)
                for member, handle in accepted:
                    if handle.token not in uploads:
                        unattributed += 1
                        continue
                    waits.setdefault(member.id, []).append(uploads[handle.token]
                                                           - sent_at[handle.id])
                total = time.monotonic() - start
    light_ids = {m.id for m in light}
    heavy_ids = {m.id for m in heavy}
    light_waits = [w for uid, ws in waits.items() if uid in light_ids for w in ws]
    heavy_waits = [w for uid, ws in waits.items() if uid in heavy_ids for w in ws]
    return {
        "bench": "burst", "dreams": len(plan), "users": args.users, "cap_per_user": args.cap,
        "acked": len(acked), "late_or_lost": len(plan) - len(acked),
        "accepted": len(accepted), "refused_by_caps": refused,
        "max_waiting_per_user_seen": max(peak_waiting.values()) if peak_waiting else 0,
        "caps_held": max(peak_waiting.values(), default=0) <= args.cap,
        "light_median_wait_s": statistics.median(light_waits) if light_waits else None,
        "heavy_median_wait_s": statistics.median(heavy_waits) if heavy_waits else None,
        "results_not_timed": unattributed,
        "light_median_queue_wait_s": statistics.median(
            [w for uid, ws in queue_waits.items() if uid in light_ids for w in ws] or [0.0]),
        "heavy_median_queue_wait_s": statistics.median(
            [w for uid, ws in queue_waits.items() if uid in heavy_ids for w in ws] or [0.0]),
        "total_seconds": total,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def burst(args: argparse.Namespace) -> dict[str, Any]:
    """Many /dreams at once over the fake Discord."""
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_burst(args, Path(tmp)))


