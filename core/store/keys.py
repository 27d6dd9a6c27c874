"""The Redis key layout, written down once. Bump LAYOUT_VERSION when it changes.

    {prefix}:v2:{u:<id>}:profile    hash    age_bucket, gender, region (ints as strings)
    {prefix}:v2:{u:<id>}:seq        list    engaged item ids, most recent first, capped at SEQ_CAP
    {prefix}:v2:{u:<id>}:seen       zset    item id -> event time (ms) of items shown/viewed, the
                                            SEEN_CAP most recent kept, expires SEEN_TTL_S after last write
    {prefix}:v2:{u:<id>}:follows    set     followed author ids
    {prefix}:v2:{u:<id>}:blocked    set     blocked author ids (BLOCK events)
    {prefix}:v2:{u:<id>}:session    list    items engaged in the current session, most recent first,
                                            capped at SESSION_CAP, expires SESSION_TTL_S after the last
    {prefix}:v2:{u:<id>}:watched    list    "<item id>:<watched ms>:<event ms>" of each view, most
                                            recent first, capped at WATCHED_CAP, expires like the seen set
                                            (the rank stage folds them into the watch model's user vector)
    {prefix}:v2:{hot:<scope>}:<hour> zset   item id -> engagement score in that UTC hour bucket;
                                            scope "g" (global) or "r<region>"; expires after
                                            HOT_WINDOW_H + 1 hours
    {prefix}:v2:{hot:<scope>}:agg    zset   time-decayed sum of a scope's buckets, rebuilt by
                                            ZUNIONSTORE when the hot channel refreshes
    {prefix}:v2:item:<id>:stats      hash   per-item event counts by type name ("like", "view", ...)
                                            and "watch_ms" (total watched), updated by events;
                                            expires ITEM_STATS_TTL_S after the last event
    {prefix}:v2:item:<id>:meta       hash   display info: title, cover_url, author_name, duration_s,
                                            tags (comma-joined); written by the bootstrap loader and
                                            PublishItem, read for the served page only (item_meta.py)
    {prefix}:v2:evt:<event_id>      string  idempotency marker of a stored event, TTL DEDUP_TTL_S
    {prefix}:v2:events              stream  every stored event, read by the exporter (training/loop), which
                                            trims what it exported (XTRIM MINID); ~EVENTS_STREAM_CAP is
                                            only a safety cap for an exporter that is down for long
    {prefix}:v2:impressions         stream  one entry per Recommend: what was shown and why
                                            (core/store/impressions.py); exported and trimmed the same
                                            way, safety cap ~IMPRESSIONS_STREAM_CAP
    {prefix}:v2:meta                hash    world_offset_ms (world time -> wall time), loaded_at_ms
    {prefix}:v2:{catalog}:items     hash    item id -> "author,category,duration_s,publish_ms,region" of
                                            videos published online (after the model versions were built)
    {prefix}:v2:{catalog}:removed   set     item ids taken down (never recalled again)
    {prefix}:v2:{catalog}:log       stream  every catalog change (op=publish|remove), capped
                                            ~CATALOG_LOG_CAP; services follow it to apply changes at once
    {prefix}:v1:{ops}:campaigns     hash    campaign id -> the campaign as JSON (campaigns.py)
    {prefix}:v1:{ops}:delivered     hash    campaign id -> impressions delivered (HINCRBY per feed)

A user's keys share the hash tag `{u:<id>}`, so in Redis Cluster they live in one slot and the
per-request read stays one pipelined round trip; a hot scope's buckets share `{hot:<scope>}`,
so ZUNIONSTORE over them is legal on a cluster too; the catalog keys share `{catalog}`, so a
publish or a removal is one atomic script; the campaign keys share `{ops}`, so one pipeline
reads all campaigns and their counts.
"""
from __future__ import annotations

from dataclasses import dataclass

# v2: the seen set became a capped sorted set (by time); item stats expire.
LAYOUT_VERSION = "v2"
SEQ_CAP = 50
SESSION_CAP = 20
SESSION_TTL_S = 30 * 60
SEEN_TTL_S = 30 * 24 * 3600
# The views with their watch times the rank stage folds into the user's vector: about the
# ten feeds of a session (the simulator's 10 rounds of 10 items).
WATCHED_CAP = 100
# Read whole on every request (DropSeen), so bounded: the most recent this many.
SEEN_CAP = 1000
ITEM_STATS_TTL_S = 30 * 24 * 3600
HOT_WINDOW_H = 24
HOT_BUCKET_MS = 3600 * 1000
DEDUP_TTL_S = 7 * 24 * 3600
EVENTS_STREAM_CAP = 1_000_000
IMPRESSIONS_STREAM_CAP = 1_000_000
CATALOG_LOG_CAP = 100_000


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def _root(self) -> str:
        return f"{self.prefix}:{LAYOUT_VERSION}"

    def _user(self, user_id: int, what: str) -> str:
        return f"{self._root}:{{u:{int(user_id)}}}:{what}"

    def profile(self, user_id: int) -> str:
        return self._user(user_id, "profile")

    def seq(self, user_id: int) -> str:
        return self._user(user_id, "seq")

    def seen(self, user_id: int) -> str:
        return self._user(user_id, "seen")

    def follows(self, user_id: int) -> str:
        return self._user(user_id, "follows")

    def session(self, user_id: int) -> str:
        return self._user(user_id, "session")

    def blocked(self, user_id: int) -> str:
        return self._user(user_id, "blocked")

    def watched(self, user_id: int) -> str:
        return self._user(user_id, "watched")

    def hot(self, scope: str, bucket: int) -> str:
        return f"{self._root}:{{hot:{scope}}}:{int(bucket)}"

    def hot_aggregate(self, scope: str) -> str:
        return f"{self._root}:{{hot:{scope}}}:agg"

    def item_stats(self, item_id: int) -> str:
        return f"{self._root}:item:{int(item_id)}:stats"

    def item_meta(self, item_id: int) -> str:
        return f"{self._root}:item:{int(item_id)}:meta"

    def campaigns(self) -> str:
        return f"{self._root}:{{ops}}:campaigns"

    def campaigns_delivered(self) -> str:
        return f"{self._root}:{{ops}}:delivered"

    def event_marker(self, event_id: str) -> str:
        return f"{self._root}:evt:{event_id}"

    def events_stream(self) -> str:
        return f"{self._root}:events"

    def impressions_stream(self) -> str:
        return f"{self._root}:impressions"

    def meta(self) -> str:
        return f"{self._root}:meta"

    def catalog_items(self) -> str:
        return f"{self._root}:{{catalog}}:items"

    def catalog_removed(self) -> str:
        return f"{self._root}:{{catalog}}:removed"

    def catalog_log(self) -> str:
        return f"{self._root}:{{catalog}}:log"

    def pattern(self) -> str:
        """Glob matching every key of this prefix (for clean-up in tests and reloads)."""
        return f"{self.prefix}:*"


def hot_bucket(ts_ms: int) -> int:
    """The hour bucket a timestamp (ms) falls in."""
    return int(ts_ms) // HOT_BUCKET_MS


def region_scope(region: int) -> str:
    return f"r{int(region)}"


GLOBAL_SCOPE = "g"
