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
    pub fn cost(&self, model: &str, input: u64, output: u64, cached: u64) -> f64 {
        let p = self.by_model.get(model).unwrap_or(&self.default);
        (input.saturating_sub(cached) as f64 * p.input
            + cached as f64 * p.cached_input
            + output as f64 * p.output)
            / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plans_numbers() {
        let t = PriceTable::default();
        // @generator: 50 runs × 5K input + 10K output = $8.25 a month.
        let per_run = t.cost("claude-sonnet", 5_000, 10_000, 0);
        assert!((per_run * 50.0 - 8.25).abs() < 1e-9);
        // @reviewer: 200 × (10K in + 5K out) = $21.
        assert!((t.cost("x", 10_000, 5_000, 0) * 200.0 - 21.0).abs() < 1e-9);
        assert!(t.cost("x", 1_000_000, 0, 1_000_000) < t.cost("x", 1_000_000, 0, 0));
    }
}
