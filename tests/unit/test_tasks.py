"""circus.tasks.TaskSet: background tasks are kept, logged and cancelled by their owner."""

import asyncio
import logging

from circus.tasks import TaskSet


def test_a_task_set_keeps_its_tasks_until_they_end():
    async def main():
        tasks = TaskSet("w")
        gate = asyncio.Event()
        task = tasks.spawn(gate.wait())
        assert len(tasks) == 1
        gate.set()
        await task
        await asyncio.sleep(0)  # the done callback runs on the next turn
        assert len(tasks) == 0

    asyncio.run(main())


def test_a_failing_background_task_is_logged_with_its_owner(caplog):
    async def boom():
        raise RuntimeError("kaboom")

    async def main():
        tasks = TaskSet("web")
        task = tasks.spawn(boom(), name="respawn")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="circus.tasks"):
        asyncio.run(main())
    assert "web: background task respawn failed" in caplog.text
    assert "kaboom" in caplog.text


def test_cancel_all_cancels_and_awaits_every_task_but_the_callers():
    async def main():
        tasks = TaskSet("w")
        sleepers = [tasks.spawn(asyncio.sleep(3600)) for _ in range(3)]
        survived = []

        async def stopper():
            await tasks.cancel_all()
            survived.append(True)

        await tasks.spawn(stopper())
        assert all(t.cancelled() for t in sleepers)
        assert survived == [True]

    asyncio.run(main())
