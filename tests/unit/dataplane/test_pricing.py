"""Cost in integer micro-USD: each class at its price (with the PriceSpec fallbacks), summed, rounded up once; and
which price is in effect when."""

from __future__ import annotations

import pytest

from dataplane.pricing import PriceBook, cost_micro_usd
from shared.snapshot import PriceSpec
from shared.usage import TokenUsage

# USD per million tokens: input 2.50, cached input 1.25, cache write 3.75, output 10.00, reasoning 12.00
FULL = PriceSpec(
    id="p-full",
    deployment_id="d",
    effective_from=0,
    input=2_500_000,
    output=10_000_000,
    cached_input=1_250_000,
    cache_write=3_750_000,
    reasoning=12_000_000,
)
# only input and output: cached input and cache writes fall back to input, reasoning to output
PLAIN = PriceSpec(id="p-plain", deployment_id="d", effective_from=0, input=3_000_000, output=15_000_000)


@pytest.mark.parametrize(
    ("usage", "price", "expected"),
    [
        # 1000 x 2.50/M = $0.0025 = 2500 µ$; 500 x 10/M = 5000 µ$
        (TokenUsage(input=1000, output=500), FULL, 7_500),
        # 1000 input (2500) + 4000 cached (4000 x 1.25 = 5000) + 200 cache write (750) + 300 output (3000)
        # + 700 reasoning (700 x 12 = 8400) = 19650 µ$
        (TokenUsage(input=1000, cached_input=4000, cache_write=200, output=300, reasoning=700), FULL, 19_650),
        # fallbacks: 4000 cached at 3.00 (12000) + 200 write at 3.00 (600) + 700 reasoning at 15.00 (10500)
        (TokenUsage(cached_input=4000, cache_write=200, reasoning=700), PLAIN, 23_100),
        # 1 input token at 2.50/M = 2.5 µ$: rounded up to 3
        (TokenUsage(input=1), FULL, 3),
        # 1 input (2.5 µ$) + 2 cached (2.5 µ$) = 5 µ$: one rounding of the sum (rounding per class would give 6)
        (TokenUsage(input=1, cached_input=2), FULL, 5),
        (TokenUsage(), FULL, 0),
        # a large request stays exact: 2M input (5 USD) + 1M output (10 USD) = 15 USD
        (TokenUsage(input=2_000_000, output=1_000_000), FULL, 15_000_000),
    ],
)
def test_cost_matches_the_hand_computation(usage: TokenUsage, price: PriceSpec, expected: int) -> None:
    assert cost_micro_usd(usage, price) == expected


def test_cached_and_reasoning_tokens_are_priced_per_class_not_as_input_and_output() -> None:
    as_classes = cost_micro_usd(TokenUsage(input=1000, cached_input=1000, output=1000, reasoning=1000), FULL)
    as_plain = cost_micro_usd(TokenUsage(input=2000, output=2000), FULL)
    assert as_classes == 2500 + 1250 + 10000 + 12000
    assert as_classes != as_plain


def test_the_price_in_effect_is_the_latest_that_started() -> None:
    old = PriceSpec(id="old", deployment_id="d", effective_from=1000, input=1, output=1)
    new = PriceSpec(id="new", deployment_id="d", effective_from=2000, input=2, output=2)
    other = PriceSpec(id="other", deployment_id="e", effective_from=0, input=3, output=3)
    book = PriceBook([new, other, old])
    assert book.price_at("d", 999) is None
    assert book.price_at("d", 1000) == old
    assert book.price_at("d", 1999.9) == old
    assert book.price_at("d", 2000) == new
    assert book.price_at("e", 5) == other
    assert book.price_at("unknown", 5) is None
    assert not book.is_priced("d", 10) and book.is_priced("d", 1500)


def test_the_reservation_prices_every_token_at_the_dearest_class_of_the_dearest_target() -> None:
    cheap = PriceSpec(id="c", deployment_id="cheap", effective_from=0, input=1_000_000, output=2_000_000)
    book = PriceBook([FULL, cheap])
    # 1000 tokens x 12 USD/M (FULL's reasoning price) = 12000 µ$
    assert book.reservation_micro_usd(["cheap", "d"], tokens=1000, when=10) == 12_000
    assert book.reservation_micro_usd(["cheap"], tokens=1000, when=10) == 2_000
    assert book.reservation_micro_usd(["unpriced"], tokens=1000, when=10) == 0
