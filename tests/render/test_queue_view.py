"""``/queue`` texts: prompts shown as typed (escaped), whole lines, within a message."""

from __future__ import annotations

from bot.domain.jobs import Job, JobState, QueueEntry, Requester
from bot.domain.recipe import Recipe
from bot.render.queue_view import member_view, moderator_view

HOSTILE = "@everyone <@&123456789012345678> ``` **bold** " * 40


def _entry(job_id: int, position: int, name: str = "alice") -> QueueEntry:
    job = Job(id=job_id, recipe=Recipe(prompt=HOSTILE), state=JobState.QUEUED, created_at=0.0,
              requester=Requester(user_id=None, user_name=name, source="discord"))
    return QueueEntry(job=job, position=position, eta=None)


def test_queue_texts_escape_prompts_and_fit_a_message() -> None:
    entries = [_entry(i, i, name="**eve**") for i in range(1, 200)]
    for text in (member_view(entries, 199), moderator_view(entries)):
        assert len(text) <= 2000
        assert "@everyone" not in text and "```" not in text and "<@&" not in text
        assert "… and " in text  # the jobs that did not fit are counted, not cut mid-line
    assert moderator_view(entries).endswith("199 job(s). Cancel any with `/cancel job:<number>`.")
    assert "\\*\\*eve\\*\\*" in moderator_view(entries)
    assert member_view(entries, 199).endswith("Jobs waiting or running in total: 199.")
