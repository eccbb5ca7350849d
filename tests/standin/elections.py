"""Heartbeats, elections and step-downs between stand-in members.

Each member of an initiated set sends every other member a heartbeat each
settings.heartbeatIntervalMillis, and acts on what it hears, as MongoDB's topology
coordinator does (src/mongo/db/repl/topology_coordinator.cpp,
replication_coordinator_impl_elect_v1.cpp). Defaults: heartbeats every 2000 ms, election
timeout 10000 ms (src/mongo/db/repl/repl_set_config.cpp, kDefaultHeartbeatInterval,
kDefaultElectionTimeoutPeriod); both are config settings.

- A secondary that has not heard from a primary for the election timeout stands for
  election when it is electable (priority > 0, not an arbiter, not newly added, not in
  initial sync). It asks every voter for its vote in a new term; a voter refuses a term
  it has already voted in, a term older than its own, and a candidate whose last applied
  optime is behind its own ("candidate's data is staler than mine",
  TopologyCoordinator::processReplSetRequestVotes). A majority of the voting members wins.
  MongoDB separates simultaneous candidates with a random offset of up to 15% on the
  timeout; the stand-in lets only the freshest, highest-priority electable member it can
  see stand, which settles on the same winner without the randomness.
- A single-node set elects itself at once (replication_coordinator_impl.cpp,
  kActionStartSingleNodeElection).
- The winner's term becomes the config's term, version unchanged
  (ReplicationCoordinatorImpl::signalDrainComplete; jstests/replsets/
  stepup_increments_config_term.js), and its electionId is OID::fromTerm(term): 0x7fffffff
  then the big-endian term (src/mongo/bson/oid_test.cpp, FromTerm).
- A member that hears of a higher term adopts it; a primary that does steps down. A
  primary that cannot see a majority of the voting members for the election timeout
  steps down ("Can't see a majority of the set, relinquishing primary",
  TopologyCoordinator::checkMemberTimeouts / _aMajoritySeemsToBeUp).
- Priority takeover: a caught-up secondary with a higher priority than the primary stands
  after (number of members with a higher priority + 1) x election timeout
  (ReplSetConfig::getPriorityTakeoverDelay, src/mongo/db/repl/repl_set_config.cpp).
- A primary asked to shut down hands over first: it asks its freshest electable
  secondary to stand at once (enableElectionHandoff, docs "Server Parameters";
  replication_coordinator_impl.cpp, stepUpRequestSkipDryRun).
- replSetStepDown (src/mongo/db/repl/repl_set_commands.cpp, CmdReplSetStepDown, needs
  replSetStateChange; replication_coordinator_impl.cpp, stepDown and
  _performElectionHandoff; topology_coordinator.cpp, tryToStartStepDown): a period of 0
  or not a number means 60, a negative one BadValue (2); secondaryCatchUpPeriodSecs
  defaults to 10 (0 with force), is an integer (TypeMismatch 14 otherwise), not negative
  (2) and not longer than the period (2); on a non-primary NotWritablePrimary (10107).
  The primary stops taking writes and waits up to the catch-up period for a majority of
  the voters, one of them electable, to hold its last optime; then it steps down and
  hands the election to the freshest of them. Not caught up in time: ExceededTimeLimit
  (262), still primary, unless force. It does not stand for election for the period.
  The wait happens outside the catalogue lock, as the real one releases the RSTL while
  secondaries catch up.
- A restarted member starts as a secondary whatever it was before, and learns the
  primary from heartbeats.
- Configs travel with heartbeats too: a member that missed a reconfig while it was down
  takes the newer config it hears of (replication_coordinator_impl_heartbeat.cpp,
  _scheduleHeartbeatReconfig).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
import threading
import time

import pymongo

from . import replication, replset
from .errors import CommandError
from .server import Context, Server

log = logging.getLogger("standin")

DEFAULT_HEARTBEAT_MS = 2000
DEFAULT_ELECTION_TIMEOUT_MS = 10000


def _settings(server: Server) -> tuple[float, float]:
    """(heartbeat interval, election timeout) in seconds, from the config's settings."""
    settings = (replset.config(server) or {}).get("settings", {})
    heartbeat = settings.get("heartbeatIntervalMillis", DEFAULT_HEARTBEAT_MS)
    timeout = settings.get("electionTimeoutMillis", DEFAULT_ELECTION_TIMEOUT_MS)
    return heartbeat / 1000, timeout / 1000


def _clock(server: Server) -> dict:
    """Monotonic times this process noticed things at (not persisted: a restart starts over)."""
    return server.extra_state.setdefault("clock", {"primary_seen": time.monotonic(), "majority_seen": time.monotonic()})


# -- what a member answers -----------------------------------------------------------


def heartbeat_reply(server: Server) -> dict:
    state = replset.state(server)
    return {
        "state": replset.own_state(server),
        "term": replset.term(server),
        "optime": replication.optime_document(replication.optime(server)),
        "optimeDate": replication.last_applied_wall(server),
        "primary": state.get("primary"),
        "config": replset.config(server),
    }


def standin_request_vote(server: Server, ctx: Context) -> dict:
    """A candidate asks for this member's vote in a term."""
    replset.check_internal(server, ctx)
    term, candidate = int(ctx.body["term"]), ctx.body["candidate"]
    candidate_optime = (ctx.body["optime"]["t"], ctx.body["optime"]["ts"])
    state = replset.state(server)
    if term < replset.term(server):
        return {"voteGranted": False, "reason": f"candidate's term ({term}) is lower than mine"}
    last_vote = state.get("lastVote", {})
    if last_vote.get("term", 0) >= term:
        return {"voteGranted": False, "reason": f"already voted for another candidate in this term ({term})"}
    if not replset.my_member(server)["arbiterOnly"] and candidate_optime < replication.optime(server):
        return {"voteGranted": False, "reason": "candidate's data is staler than mine"}
    _adopt_term(server, term)
    state["lastVote"] = {"term": term, "candidate": candidate}
    server.store.save()
    return {"voteGranted": True}


def standin_new_primary(server: Server, ctx: Context) -> dict:
    """The winner of an election tells the members it reaches."""
    replset.check_internal(server, ctx)
    term = int(ctx.body["term"])
    if term >= replset.term(server):
        _adopt_term(server, term)
        _take_config(server, ctx.body["config"])
        _set_primary(server, ctx.body["primary"])
        _clock(server)["primary_seen"] = time.monotonic()
    return {}


def standin_step_up(server: Server, ctx: Context) -> dict:
    """A primary handing over asks this member to stand now."""
    replset.check_internal(server, ctx)
    threading.Thread(target=run_election, args=(server, "stepUpRequestSkipDryRun"), daemon=True).start()
    return {}


# -- state changes -------------------------------------------------------------------


def _adopt_term(server: Server, term: int) -> None:
    if term <= replset.term(server):
        return
    replset.state(server)["term"] = term
    if replset.is_primary(server):
        log.info("stepping down: heard of term %s", term)
        _set_primary(server, None)
    server.store.save()


def _set_primary(server: Server, host: str | None) -> None:
    state = replset.state(server)
    if state.get("primary") == host:
        return
    state["primary"] = host
    server.store.save()
    server.bump_topology()


def _take_config(server: Server, other: dict | None) -> None:
    """A newer config heard of (a higher term, or the same term and a higher version)."""
    mine = replset.config(server)
    if not other or not mine or other["_id"] != mine["_id"]:
        return
    if (other["term"], other["version"]) > (mine["term"], mine["version"]):
        replset.state(server)["config"] = copy.deepcopy(other)
        server.store.save()
        server.bump_topology()


def become_primary(server: Server, term: int) -> None:
    """Won: take the term, write it into the config, tell every member it reaches."""
    me = replset.my_member(server)
    with server.lock:
        replset.state(server)["term"] = term
        replset.config(server)["term"] = term
        _set_primary(server, me["host"])
        server.extra_state["member_optimes"] = {}
        current = copy.deepcopy(replset.config(server))
    _clock(server)["majority_seen"] = time.monotonic()
    log.info("election won: %s is primary in term %s", me["host"], term)
    for member in current["members"]:
        if not replset.is_me(server, member["host"]):
            announcement = {"standinNewPrimary": 1, "term": term, "primary": me["host"], "config": current}
            with contextlib.suppress(pymongo.errors.PyMongoError):
                replset.send_internal(server, member["host"], announcement, 1000)


def run_election(server: Server, reason: str) -> bool:
    """Stand in a new term; True when a majority of the voting members granted their vote."""
    current = replset.config(server)
    me = replset.my_member(server)
    if not current or not me or not replset.electable(me) or replset.syncing(server):
        return False
    if time.monotonic() < _clock(server).get("stepdown_until", 0):  # StepDownPeriodActive
        return False
    peers = replset.peers(server)
    term = max([replset.term(server)] + [p["term"] for p in peers.values() if p.get("healthy")]) + 1
    with server.lock:
        replset.state(server)["term"] = term
        replset.state(server)["lastVote"] = {"term": term, "candidate": me["host"]}
        server.store.save()
    voters = [m for m in current["members"] if m["votes"] and not m.get("newlyAdded")]
    granted = 1 if me in voters else 0
    request = {
        "standinRequestVote": 1,
        "term": term,
        "candidate": me["host"],
        "optime": replication.optime_document(replication.optime(server)),
        "optimeDate": replication.last_applied_wall(server),
    }
    for member in voters:
        if replset.is_me(server, member["host"]):
            continue
        try:
            answer = replset.send_internal(server, member["host"], request, 1000)
        except pymongo.errors.PyMongoError:
            continue
        granted += 1 if answer.get("voteGranted") else 0
    if granted * 2 <= len(voters):
        log.info("election in term %s (%s) lost: %s of %s votes", term, reason, granted, len(voters))
        return False
    become_primary(server, term)
    return True


def hand_over(server: Server) -> None:
    """Before a primary shuts down: ask the freshest electable secondary to stand now."""
    current = replset.config(server)
    if not current or not replset.is_primary(server):
        return
    with server.lock:
        _set_primary(server, None)
    _heartbeat_round(server)  # the stepdown looks for a caught-up secondary as it is now
    _hand_election_to_a_caught_up_member(server, current)


def _caught_up_electable(server: Server, current: dict) -> list[dict]:
    mine = replication.optime(server)
    return [
        m
        for m in current["members"]
        if not replset.is_me(server, m["host"]) and replset.electable(m) and _peer_optime(server, m["host"]) >= mine
    ]


def _hand_election_to_a_caught_up_member(server: Server, current: dict) -> None:
    candidates = _caught_up_electable(server, current)
    for member in sorted(candidates, key=lambda m: (-m["priority"], m["_id"])):
        try:
            replset.send_internal(server, member["host"], {"standinStepUp": 1}, 1000)
            return
        except pymongo.errors.PyMongoError:
            continue


def repl_set_step_down(server: Server, ctx: Context) -> dict:
    """replSetStepDown: the rules of the module docstring, in the order the server checks them."""
    if ctx.db != "admin":  # a ReplSetCommand is adminOnly
        raise CommandError(13, "replSetStepDown may only be run against the admin database.", "Unauthorized")
    current = replset.require_initiated(server)
    period = ctx.body["replSetStepDown"]
    period = int(period) if isinstance(period, (int, float)) and not isinstance(period, bool) else 0
    if period == 0:
        period = 60
    elif period < 0:
        raise CommandError(2, "stepdown period must be a positive integer", "BadValue")
    force = bool(ctx.body.get("force"))
    catch_up = ctx.body.get("secondaryCatchUpPeriodSecs", 0 if force else 10)
    if not isinstance(catch_up, (int, float)) or isinstance(catch_up, bool):
        raise CommandError(
            14,
            f'Expected field "secondaryCatchUpPeriodSecs" to have numeric type, but found {type(catch_up).__name__}',
            "TypeMismatch",
        )
    if catch_up < 0:
        raise CommandError(2, "secondaryCatchUpPeriodSecs period must be a positive or absent", "BadValue")
    if period < catch_up:
        raise CommandError(2, "stepdown period must be longer than secondaryCatchUpPeriodSecs", "BadValue")
    if not replset.is_primary(server):
        raise CommandError(10107, "not primary so can't step down", "NotWritablePrimary")
    deadline = time.monotonic() + catch_up
    with server.lock:
        server.extra_state["stepping_down"] = True  # writes are refused from here on
    try:
        while not _safe_to_step_down(server, current):
            if time.monotonic() >= deadline:
                if force:
                    break
                stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
                raise CommandError(
                    262,
                    f"No electable secondaries caught up as of {stamp}. Please use the replSetStepDown command "
                    "with the argument {force: true} to force node to step down.",
                    "ExceededTimeLimit",
                )
            time.sleep(0.2)
            _heartbeat_round(server)
        _clock(server)["stepdown_until"] = time.monotonic() + period
        with server.lock:
            _set_primary(server, None)
    finally:
        with server.lock:
            server.extra_state.pop("stepping_down", None)
    log.info("stepped down for %s s (replSetStepDown)", period)
    if not force:
        _hand_election_to_a_caught_up_member(server, current)
    return {}


def _safe_to_step_down(server: Server, current: dict) -> bool:
    """A majority of the voters hold this primary's last optime, and one of them is electable."""
    majority = replication.satisfied(server, {"w": "majority"}, replication.optime(server))
    return majority and bool(_caught_up_electable(server, current))


def _peer_optime(server: Server, host: str) -> tuple[int, int]:
    peer = replset.peers(server).get(host, {})
    if not peer.get("healthy"):
        return (-1, -1)
    return peer["optime"]["t"], peer["optime"]["ts"]


# -- the heartbeat loop --------------------------------------------------------------


def _heartbeat_round(server: Server) -> None:
    current = replset.config(server)
    me = replset.my_member(server)
    if not current or not me:
        return
    heartbeat, _ = _settings(server)
    peers = replset.peers(server)
    for member in current["members"]:
        if replset.is_me(server, member["host"]):
            continue
        try:
            answer = replset.send_internal(
                server, member["host"], {"standinReplState": 1}, int(min(heartbeat, 1) * 1000)
            )
            peers[member["host"]] = {**answer, "healthy": True}
            if answer["state"] in (1, 2):
                optimes = server.extra_state.setdefault("member_optimes", {})
                optimes[member["host"]] = (answer["optime"]["t"], answer["optime"]["ts"])
        except pymongo.errors.PyMongoError:
            peers[member["host"]] = {"healthy": False, "state": 8}
    for answer in [p for p in peers.values() if p.get("healthy")]:
        with server.lock:
            _adopt_term(server, answer["term"])
            _take_config(server, answer.get("config"))


def _act(server: Server) -> None:
    """What this member does with what the last round told it."""
    current = replset.config(server)
    me = replset.my_member(server)
    if not current or not me:
        return
    _, timeout = _settings(server)
    clock, peers, now = _clock(server), replset.peers(server), time.monotonic()
    healthy = {host for host, peer in peers.items() if peer.get("healthy")}
    voters = [m for m in current["members"] if m["votes"] and not m.get("newlyAdded")]
    if replset.is_primary(server):
        up = sum(1 for m in voters if replset.is_me(server, m["host"]) or m["host"] in healthy)
        if up * 2 > len(voters):
            clock["majority_seen"] = now
        elif now - clock["majority_seen"] >= timeout:
            log.info("Can't see a majority of the set, relinquishing primary")
            with server.lock:
                _set_primary(server, None)
        return
    primaries = [
        host
        for host, peer in peers.items()
        if peer.get("healthy") and peer["state"] == 1 and peer["term"] >= replset.term(server)
    ]
    if primaries:
        primary = primaries[0]
        clock["primary_seen"] = now
        with server.lock:
            _set_primary(server, primary)
        if me["arbiterOnly"]:
            return
        if _peer_optime(server, primary) > replication.optime(server):
            replication.catch_up(server, primary)
        _maybe_take_over(server, me, primary)
        return
    if replset.state(server).get("primary"):
        with server.lock:
            _set_primary(server, None)
    if not replset.electable(me) or me["arbiterOnly"] or replset.own_state(server) != 2:
        return
    single = len(current["members"]) == 1
    if not single and now - clock["primary_seen"] < timeout:
        return
    if _best_candidate(server, current, healthy) == me["host"]:
        run_election(server, "singleNodePromptElection" if single else "electionTimeout")


def _best_candidate(server: Server, current: dict, healthy: set[str]) -> str | None:
    electable = []
    for member in current["members"]:
        if not replset.electable(member):
            continue
        if replset.is_me(server, member["host"]):
            electable.append((replication.optime(server), member))
        elif member["host"] in healthy and replset.peers(server)[member["host"]]["state"] == 2:
            electable.append((_peer_optime(server, member["host"]), member))
    if not electable:
        return None
    best = max(electable, key=lambda pair: (pair[0], pair[1]["priority"], -pair[1]["_id"]))
    return best[1]["host"]


def _maybe_take_over(server: Server, me: dict, primary: str) -> None:
    """A caught-up member with a higher priority than the primary stands after its delay."""
    clock = _clock(server)
    primary_member = next((m for m in replset.config(server)["members"] if m["host"] == primary), None)
    caught_up = replication.optime(server) >= _peer_optime(server, primary)
    if primary_member is None or not replset.electable(me) or me["priority"] <= primary_member["priority"]:
        clock.pop("takeover_since", None)
        return
    if not caught_up:
        return
    since = clock.setdefault("takeover_since", time.monotonic())
    rank = sum(1 for m in replset.config(server)["members"] if m["priority"] > me["priority"])
    _, timeout = _settings(server)
    if time.monotonic() - since >= (rank + 1) * timeout:
        clock.pop("takeover_since", None)
        run_election(server, "priorityTakeover")


def _loop(server: Server) -> None:
    while not server.shutting_down.is_set():
        try:
            if replset.config(server) and not replset.syncing(server):
                _heartbeat_round(server)
                _act(server)
        except Exception:  # the loop must outlive one bad round
            log.exception("heartbeat round failed")
        heartbeat, _ = _settings(server)
        server.shutting_down.wait(heartbeat)


def start(server: Server) -> None:
    """At start-up: a member that was primary comes back as a secondary; heartbeats begin."""
    state = replset.state(server)
    if state.get("primary") and replset.is_me(server, state["primary"]):
        state["primary"] = None
    threading.Thread(target=_loop, args=(server,), daemon=True, name="heartbeats").start()


def standin_repl_state(server: Server, ctx: Context) -> dict:
    replset.check_internal(server, ctx)
    return heartbeat_reply(server)


HANDLERS = {
    "standinReplState": (standin_repl_state, False),
    "standinRequestVote": (standin_request_vote, False),
    "standinNewPrimary": (standin_new_primary, False),
    "standinStepUp": (standin_step_up, False),
    "replSetStepDown": (repl_set_step_down, False),
}
