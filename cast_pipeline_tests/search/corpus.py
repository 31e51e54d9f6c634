"""A small hand-written podcast corpus with known answers, for the relevance tests.

Five feeds (four English, one German), 13 episodes, about 50 phrases. Each phrase is written so the
tests can name the one hit a query should find (``ref("cooking", 1, 1)`` = feed "cooking", episode 1,
segment 1). Built once per test module: real embeddings from the bundled model, real LanceDB and DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cast_pipeline.feeds.model import Episode
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.segments import Segment


@dataclass(frozen=True)
class DemoEpisode:
    title: str
    published: datetime
    segments: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class DemoFeed:
    slug: str
    title: str
    language: str | None
    episodes: tuple[DemoEpisode, ...]

    @property
    def url(self) -> str:
        return f"https://{self.slug}.example/feed.xml"

    @property
    def key(self) -> str:
        return feed_key(self.url)


def _d(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 6, 0, tzinfo=UTC)


FEEDS = (
    DemoFeed("cooking", "Kitchen Science", "en-us", (
        DemoEpisode("Sourdough from scratch", _d(2023, 3, 1), (
            "Welcome back to Kitchen Science, I'm your host Maya.",
            "Today we are baking sourdough bread with a starter that is three years old.",
            "The starter is a culture of wild yeast and lactic acid bacteria living in flour and water.",
            "If the dough does not rise, your kitchen might simply be too cold.",
            "Fermentation slows down a lot below twenty degrees.",
            "Score the loaf with a razor blade right before it goes into the oven.",
        ), "<p>We bake <b>bread</b> with a culture that is older than my car.</p>"),
        DemoEpisode("Why onions make you cry", _d(2023, 4, 1), (
            "Cutting an onion releases a gas called syn-propanethial-S-oxide.",
            "That gas reaches your eyes and turns into a mild acid, which is why you cry.",
            "Chilling the onion in the fridge before chopping helps a lot.",
            "A very sharp knife damages fewer cells, so less gas escapes.",
        )),
        DemoEpisode("Cast iron care", _d(2023, 5, 1), (
            "Never leave a cast iron pan soaking in water overnight or it will rust.",
            "Seasoning is a layer of polymerised oil baked onto the metal.",
            "After washing, dry the pan on the stove and rub in a thin film of oil.",
        )),
    )),
    DemoFeed("space", "Deep Space Weekly", "en", (
        DemoEpisode("Black holes and time", _d(2024, 1, 10), (
            "Near a black hole, time passes more slowly for the falling astronaut than for observers far away.",
            "This effect is called gravitational time dilation and it was predicted by Einstein.",
            "The event horizon is the boundary beyond which not even light can escape.",
            "Supermassive black holes sit at the centre of most galaxies, including the Milky Way.",
        )),
        DemoEpisode("Living on Mars", _d(2024, 2, 10), (
            "A trip to Mars takes about seven months with current rockets.",
            "The red planet's thin atmosphere is mostly carbon dioxide.",
            "Astronauts would need to grow potatoes in greenhouses to survive.",
            "Dust storms on Mars can cover the whole planet for weeks.",
        )),
        DemoEpisode("Kuiper Belt Mysteries", _d(2024, 3, 10), (
            "Far beyond Neptune there is a ring of icy bodies left over from the birth of the solar system.",
            "Pluto is just one of thousands of these frozen worlds.",
            "The New Horizons probe flew past one of them, Arrokoth, in 2019.",
        )),
    )),
    DemoFeed("money", "Money Matters", "en-GB", (
        DemoEpisode("Inflation explained", _d(2024, 6, 1), (
            "When prices rise across the economy, each dollar buys less than before.",
            "Central banks raise interest rates to cool down inflation.",
            "Savings in a bank account lose value if the interest is lower than the inflation rate.",
            "Index funds spread your money across hundreds of companies at low cost.",
        )),
        DemoEpisode("Getting started with budgeting", _d(2024, 7, 1), (
            "Write down every expense for one month before you make a budget.",
            "The fifty thirty twenty rule splits income into needs, wants and savings.",
            "An emergency fund should cover three to six months of living costs.",
        )),
    )),
    DemoFeed("wohnen", "Wohnen und Bauen", "de-DE", (
        DemoEpisode("Das eigene Zuhause", _d(2024, 9, 1), (
            "Wir haben letztes Jahr ein Haus auf dem Land gekauft.",
            "Der Kredit für die Renovierung war teurer als gedacht.",
            "Die Handwerker kamen oft zu spät, aber die Arbeit war gut.",
            "Im Garten spielen jetzt die Kinder den ganzen Tag.",
        ), "Über Kredite, Handwerker und das Leben auf dem Land."),
        DemoEpisode("Energie sparen im Winter", _d(2024, 11, 1), (
            "Eine Wärmepumpe senkt die Heizkosten deutlich.",
            "Alte Fenster lassen viel Wärme nach draußen.",
            "Im Winter sollte man kurz und kräftig lüften.",
        )),
    )),
    DemoFeed("tech", "Tech Talk", "en", (
        DemoEpisode("Machine learning deep dive", _d(2025, 1, 15), (
            "Machine learning means computers learn patterns from examples instead of rules.",
            "Supervised machine learning needs labelled training data.",
            "Overfitting happens when a machine learning model memorises the training set.",
            "Neural networks are one family of machine learning models.",
            "Machine learning on small devices is called tiny ML.",
            "Most machine learning projects fail because of bad data, not bad models.",
            "Learning rate schedules matter for training stability.",
        )),
        DemoEpisode("Privacy online", _d(2025, 2, 15), (
            "Advertisers use machine learning to predict what you will buy.",
            "A password manager lets you use a different password for every site.",
            "Two-factor authentication protects your account even if the password leaks.",
        ), "Passwords, trackers and what advertisers know about you."),
    )),
)  # fmt: skip


def feed_by_slug(slug: str) -> DemoFeed:
    return next(f for f in FEEDS if f.slug == slug)


def ref(slug: str, episode_number: int, segment_index: int | None = None) -> tuple[str, int] | str:
    """Episode key (``segment_index`` None) or (episode key, segment index) of a corpus item; 1-based episodes."""
    key = episode_key(feed_by_slug(slug).key, f"{slug}-{episode_number}")
    return key if segment_index is None else (key, segment_index)


def episodes_and_segments() -> list[tuple[Episode, list[Segment]]]:
    """Every corpus episode as the pipeline sees it: Episode metadata and merged transcript phrases."""
    out = []
    for feed in FEEDS:
        for number, demo in enumerate(feed.episodes, start=1):
            guid = f"{feed.slug}-{number}"
            episode = Episode(
                key=episode_key(feed.key, guid),
                feed_key=feed.key,
                feed_url=feed.url,
                feed_title=feed.title,
                guid=guid,
                title=demo.title,
                description=demo.description,
                published=demo.published,
                enclosure_url=f"https://{feed.slug}.example/audio/{number}.mp3",
                language=feed.language,
            )
            segments = [Segment(start=i * 30.0 + 5, end=i * 30.0 + 33, text=t) for i, t in enumerate(demo.segments)]
            out.append((episode, segments))
    return out
