"""Which workers should run: the decision the local pool and the operator share."""

from __future__ import annotations

from spectare.planning import Wanted, WorkerState, plan_workers, restart_delay

NOW = 1000.0


def cams(*names: str, disabled: tuple[str, ...] = ()) -> list[Wanted]:
    return [Wanted(name, name not in disabled) for name in names]


class TestStartAndStop:
    def test_every_enabled_camera_gets_a_worker(self) -> None:
        plan = plan_workers(cams("a", "b"), {}, NOW)
        assert plan.start == ["a", "b"] and plan.queued == [] and plan.stop == []

    def test_running_workers_are_kept(self) -> None:
        plan = plan_workers(cams("a"), {"a": WorkerState(alive=True)}, NOW)
        assert plan.keep == ["a"] and plan.start == []

    def test_disabled_camera_is_stopped_and_reported(self) -> None:
        plan = plan_workers(cams("a", disabled=("a",)), {"a": WorkerState(alive=True)}, NOW)
        assert plan.stop == ["a"] and plan.disabled == ["a"] and plan.start == []

    def test_worker_of_a_removed_camera_is_stopped(self) -> None:
        plan = plan_workers(cams("a"), {"gone": WorkerState(alive=True)}, NOW)
        assert plan.stop == ["gone"]


class TestMaxWorkers:
    def test_cameras_beyond_the_cap_are_queued_in_name_order(self) -> None:
        plan = plan_workers(cams("c", "a", "b"), {}, NOW, max_workers=2)
        assert plan.start == ["a", "b"] and plan.queued == ["c"]

    def test_a_recording_camera_is_never_preempted_by_a_new_one(self) -> None:
        workers = {"z": WorkerState(alive=True)}
        plan = plan_workers(cams("a", "z"), workers, NOW, max_workers=1)
        assert plan.keep == ["z"] and plan.queued == ["a"] and plan.stop == []

    def test_a_freed_slot_goes_to_the_queue(self) -> None:
        workers = {"a": WorkerState(alive=True)}
        plan = plan_workers(cams("a", "b", "c", disabled=("a",)), workers, NOW, max_workers=2)
        assert plan.stop == ["a"] and plan.start == ["b", "c"]

    def test_lowering_the_cap_stops_the_extras(self) -> None:
        workers = {n: WorkerState(alive=True) for n in "abc"}
        plan = plan_workers(cams("a", "b", "c"), workers, NOW, max_workers=2)
        assert plan.keep == ["a", "b"] and plan.stop == ["c"] and plan.queued == ["c"]


class TestBackoff:
    def test_delays_double_up_to_the_cap(self) -> None:
        assert [restart_delay(n, cap=60) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]

    def test_a_failed_worker_waits_before_restarting(self) -> None:
        workers = {"a": WorkerState(alive=False, failures=3, ended_at=NOW - 1)}
        plan = plan_workers(cams("a"), workers, NOW)
        assert plan.start == [] and plan.backoff == {"a": 3.0}

    def test_and_restarts_when_the_wait_is_over(self) -> None:
        workers = {"a": WorkerState(alive=False, failures=3, ended_at=NOW - 4)}
        assert plan_workers(cams("a"), workers, NOW).start == ["a"]

    def test_a_camera_in_backoff_keeps_its_slot(self) -> None:
        workers = {"b": WorkerState(alive=False, failures=2, ended_at=NOW)}
        plan = plan_workers(cams("a", "b"), workers, NOW, max_workers=1)
        assert plan.backoff == {"b": 2.0} and plan.queued == ["a"]
