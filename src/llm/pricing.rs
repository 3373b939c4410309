//! Token prices (the plan: Claude Sonnet at $3 / $15 per million input / output tokens).

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Price {
    /// US dollars per million input tokens.
    pub input: f64,
    /// US dollars per million output tokens.
    pub output: f64,
    /// US dollars per million input tokens read from the prompt cache.
    pub cached_input: f64,
}

/// What a cache write costs, as a multiple of the input price (Anthropic, 5-minute TTL).
pub const CACHE_WRITE_FACTOR: f64 = 1.25;

/// The tokens of one answer. `input` counts every input token, cached or not.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

#[derive(Clone, Debug)]
pub struct PriceTable {
    pub default: Price,
    pub by_model: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        // Cache reads are billed at a tenth of the input price by Anthropic.
        PriceTable {
            default: Price {
                input: 3.0,
                output: 15.0,
                cached_input: 0.3,
            },
            by_model: BTreeMap::new(),
        }
    }
}

impl PriceTable {
    /// Cost in US dollars of one response.
    /// The cost of an answer: uncached input at the input price, cache reads at the cached
    /// price, cache writes at 1.25× the input price (Anthropic's 5-minute cache), output at
    /// the output price.
    pub fn cost(&self, model: &str, t: Tokens) -> f64 {
        let p = self.by_model.get(model).unwrap_or(&self.default);
        let uncached = t.input.saturating_sub(t.cache_read + t.cache_write);
        (uncached as f64 * p.input
            + t.cache_read as f64 * p.cached_input
            + t.cache_write as f64 * p.input * CACHE_WRITE_FACTOR
            + t.output as f64 * p.output)
            / 1_000_000.0
    }
}

impl std::str::FromStr for PriceTable {
    type Err = String;

    /// `MODEL=IN/OUT[/CACHED],…` in US dollars per million tokens; `*` sets the default for
    /// every other model. Without CACHED, cache reads cost a tenth of IN.
    fn from_str(s: &str) -> Result<PriceTable, String> {
        let mut t = PriceTable::default();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (model, prices) = entry
                .split_once('=')
                .ok_or_else(|| format!("price {entry:?}: expected MODEL=IN/OUT[/CACHED]"))?;
            let n: Vec<f64> = prices
                .split('/')
                .map(|p| {
                    p.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| *v >= 0.0 && v.is_finite())
                })
                .collect::<Option<_>>()
                .ok_or_else(|| format!("price {entry:?}: prices must be non-negative numbers"))?;
            let price = match n[..] {
                [input, output] => Price {
                    input,
                    output,
                    cached_input: input / 10.0,
                },
                [input, output, cached_input] => Price {
                    input,
                    output,
                    cached_input,
                },
                _ => return Err(format!("price {entry:?}: expected MODEL=IN/OUT[/CACHED]")),
            };
            match model.trim() {
                "*" => t.default = price,
                m => {
                    t.by_model.insert(m.to_string(), price);
                }
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(input: u64, output: u64, cache_read: u64) -> Tokens {
        Tokens {
            input,
            output,
            cache_read,
            cache_write: 0,
        }
    }

    #[test]
    fn prices_from_a_flag() {
        let t: PriceTable = "*=1/2, gpt-4o=2.5/10/1.25".parse().unwrap();
        assert_eq!(
            t.default,
            Price {
                input: 1.0,
                output: 2.0,
                cached_input: 0.1
            }
        );
        assert_eq!(t.by_model["gpt-4o"].cached_input, 1.25);
        assert!((t.cost("gpt-4o", tok(1_000_000, 1_000_000, 0)) - 12.5).abs() < 1e-9);
        for bad in ["gpt-4o", "gpt-4o=1", "x=1/-2", "x=a/b", "x=1/2/3/4"] {
            let e = bad.parse::<PriceTable>().unwrap_err();
            assert!(e.contains(bad.split('=').next().unwrap()), "{e}");
        }
    }

    #[test]
    fn the_plans_numbers() {
        let t = PriceTable::default();
        // @generator: 50 runs × 5K input + 10K output = $8.25 a month.
        let per_run = t.cost("claude-sonnet", tok(5_000, 10_000, 0));
        assert!((per_run * 50.0 - 8.25).abs() < 1e-9);
        // @reviewer: 200 × (10K in + 5K out) = $21.
        assert!((t.cost("x", tok(10_000, 5_000, 0)) * 200.0 - 21.0).abs() < 1e-9);
        assert!(t.cost("x", tok(1_000_000, 0, 1_000_000)) < t.cost("x", tok(1_000_000, 0, 0)));
    }

    #[test]
    fn cache_writes_cost_a_quarter_more_than_input() {
        let t = PriceTable::default();
        // 1M input tokens of which 800k written to the cache, 100k read from it: 100k plain
        // at $3, 800k at $3.75, 100k at $0.30.
        let c = t.cost(
            "x",
            Tokens {
                input: 1_000_000,
                output: 0,
                cache_read: 100_000,
                cache_write: 800_000,
            },
        );
        assert!((c - (0.3 + 3.0 + 0.03)).abs() < 1e-9, "{c}");
    }
}
