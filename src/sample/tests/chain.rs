//! What each step of the chain does: greedy, the filters, temperature,
//! penalties and bias, and which configurations are valid.

use super::*;

#[test]
fn greedy_is_argmax_lowest_id_on_ties() {
    let mut s = sampler(SamplerConfig::greedy());
    assert!(s.is_greedy());
    assert_eq!(s.sample(&[0.1, 3.0, -2.0, 2.9], &[]), 1);
    assert_eq!(s.sample(&[1.0, 5.0, 5.0, 5.0], &[]), 1);
    assert_eq!(s.sample(&[f32::NAN, 0.5, f32::NAN, 0.7], &[]), 3);
    assert_eq!(s.sample(&[-1.0, f32::INFINITY, 2.0], &[]), 1);
    // Greedy does not consume randomness.
    let state = s.rng_state();
    s.sample(&[1.0, 2.0], &[]);
    assert_eq!(s.rng_state(), state);
    // Negative temperature is greedy too.
    let mut s = sampler(SamplerConfig {
        temperature: -1.0,
        ..SamplerConfig::default()
    });
    assert!(s.is_greedy());
    for _ in 0..10 {
        assert_eq!(s.sample(&[0.0, 0.1, 0.05], &[]), 1);
    }
}

#[test]
fn greedy_applies_penalties_and_bias() {
    let cfg = SamplerConfig {
        repeat_penalty: 2.0,
        ..SamplerConfig::greedy()
    };
    let mut s = sampler(cfg);
    assert!(!s.is_greedy(), "a GPU argmax would ignore the penalty");
    assert_eq!(s.sample(&[3.0, 2.0], &[]), 0);
    assert_eq!(s.sample(&[3.0, 2.0], &[0]), 1);

    let cfg = SamplerConfig {
        logit_bias: vec![(0, f32::NEG_INFINITY)],
        ..SamplerConfig::greedy()
    };
    let mut s = sampler(cfg);
    assert!(!s.is_greedy());
    assert_eq!(s.sample(&[3.0, 2.0], &[]), 1);
}

#[test]
fn never_out_of_range_and_nan_safe() {
    for cfg in [SamplerConfig::default(), SamplerConfig::greedy(), plain()] {
        let mut s = sampler(cfg);
        assert_eq!(s.sample(&[], &[]), 0);
        assert_eq!(s.sample(&[f32::NAN; 4], &[1, 2, 99]), 0);
        for _ in 0..50 {
            let id = s.sample(&[f32::NAN, 1.0, f32::NAN, f32::NEG_INFINITY], &[7, 1000]);
            assert_eq!(id, 1);
        }
        let row = [f32::NEG_INFINITY, f32::INFINITY, 0.0, f32::INFINITY];
        for _ in 0..50 {
            let id = s.sample(&row, &[]);
            assert!(id == 1 || id == 3, "{id}");
        }
        let row = noisy_logits(1000, 3);
        for _ in 0..50 {
            assert!((s.sample(&row, &[5, 5, 999, u32::MAX]) as usize) < row.len());
        }
    }
}

#[test]
fn everything_banned_falls_back_to_raw_argmax() {
    let cfg = SamplerConfig {
        logit_bias: vec![(0, f32::NEG_INFINITY), (1, f32::NEG_INFINITY)],
        ..plain()
    };
    let mut s = sampler(cfg);
    assert_eq!(s.sample(&[1.0, 2.0], &[]), 1);
    assert_eq!(s.sample(&[1.0, 2.0, 0.5], &[]), 2);
}

#[test]
fn top_k_keeps_k() {
    let logits = [0.5, 3.0, -1.0, 2.0, 2.5, 0.0, 1.0];
    let mut s = sampler(SamplerConfig {
        top_k: 3,
        ..plain()
    });
    assert_eq!(ids(&s.distribution(&logits, &[])), [1, 3, 4]);
    let mut s = sampler(SamplerConfig {
        top_k: 1,
        ..plain()
    });
    assert_eq!(ids(&s.distribution(&logits, &[])), [1]);
    // k beyond the vocabulary keeps everything.
    let mut s = sampler(SamplerConfig {
        top_k: 100,
        ..plain()
    });
    assert_eq!(s.distribution(&logits, &[]).len(), logits.len());
    // Ties at the cut go to the lower ids.
    let mut s = sampler(SamplerConfig {
        top_k: 2,
        ..plain()
    });
    assert_eq!(ids(&s.distribution(&[1.0, 2.0, 1.0, 1.0], &[])), [0, 1]);
    // Draws never leave the kept set; all of it is reached.
    let mut s = sampler(SamplerConfig {
        top_k: 3,
        ..plain()
    });
    let f = frequencies(&mut s, &logits, 3000);
    for (i, f) in f.iter().enumerate() {
        assert_eq!(*f > 0.0, [1, 3, 4].contains(&i), "{i}: {f}");
    }
}

#[test]
fn top_p_keeps_smallest_prefix_reaching_p() {
    let logits = logits_of(&[0.15, 0.5, 0.05, 0.3]);
    let kept = |p: f32| {
        let mut s = sampler(SamplerConfig {
            top_p: p,
            ..plain()
        });
        ids(&s.distribution(&logits, &[]))
    };
    assert_eq!(kept(0.45), [1]);
    assert_eq!(kept(0.75), [1, 3]);
    assert_eq!(kept(0.85), [0, 1, 3]);
    assert_eq!(kept(0.99), [0, 1, 2, 3]);
    assert_eq!(kept(1.0), [0, 1, 2, 3]);
    // The survivors are renormalized.
    let mut s = sampler(SamplerConfig {
        top_p: 0.75,
        ..plain()
    });
    let d = s.distribution(&logits, &[]);
    let p1 = d.iter().find(|x| x.0 == 1).unwrap().1;
    assert!((p1 - 0.5 / 0.8).abs() < 1e-6, "{p1}");
}

#[test]
fn top_p_and_min_p_on_a_large_vocab_match_a_full_sort() {
    // Exercises the incremental selection (several rounds) and min-p going
    // first, against top-p then min-p on a plain sort of the whole row.
    for (seed, p, min_p) in [
        (1, 0.9f32, 0.0f32),
        (2, 0.5, 0.0),
        (3, 0.999, 0.0),
        (4, 0.1, 0.0),
        (5, 0.9, 0.05),
        (6, 0.5, 0.3),
        (7, 0.999, 0.01),
        (8, 0.2, 0.9),
    ] {
        let logits: Vec<f32> = noisy_logits(20_000, seed)
            .into_iter()
            .map(|l| l * 0.3)
            .collect();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        let max = logits[order[0]] as f64;
        let prob = |i: usize| (logits[i] as f64 - max).exp();
        let z: f64 = (0..logits.len()).map(prob).sum();
        let mut acc = 0.0;
        let mut want = Vec::new();
        for &i in &order {
            acc += prob(i) / z;
            if prob(i) >= min_p as f64 {
                want.push(i as u32);
            }
            if acc >= p as f64 {
                break;
            }
        }
        want.sort_unstable();
        let mut s = sampler(SamplerConfig {
            top_p: p,
            min_p,
            ..plain()
        });
        assert_eq!(
            ids(&s.distribution(&logits, &[])),
            want,
            "p = {p}, min_p = {min_p}"
        );
        if min_p == 0.0 && p >= 0.5 {
            assert!(want.len() > 64, "{}", want.len());
        }
    }
}

#[test]
fn min_p_is_relative_to_the_top_probability() {
    let logits = logits_of(&[0.15, 0.5, 0.05, 0.3]);
    let kept = |m: f32| {
        let mut s = sampler(SamplerConfig {
            min_p: m,
            ..plain()
        });
        ids(&s.distribution(&logits, &[]))
    };
    assert_eq!(kept(0.0), [0, 1, 2, 3]);
    assert_eq!(kept(0.09), [0, 1, 2, 3]); // 0.05 / 0.5 = 0.1
    assert_eq!(kept(0.2), [0, 1, 3]); // 0.15 / 0.5 = 0.3
    assert_eq!(kept(0.5), [1, 3]); // 0.3 / 0.5 = 0.6
    assert_eq!(kept(0.61), [1]);
    assert_eq!(kept(1.0), [1]);
    // Same threshold however small the top probability is.
    let flat = logits_of(&[1.0; 1000]);
    let mut s = sampler(SamplerConfig {
        min_p: 0.9,
        ..plain()
    });
    assert_eq!(s.distribution(&flat, &[]).len(), 1000);
}

#[test]
fn filters_chain_in_order() {
    // top-k 3 -> {1, 3, 0}; top-p 0.8 of those renormalized (0.5, 0.3, 0.15
    // over 0.95) -> {1, 3}; min-p 0.7 -> {1}.
    let logits = logits_of(&[0.15, 0.5, 0.05, 0.3]);
    let mut s = sampler(SamplerConfig {
        top_k: 3,
        top_p: 0.8,
        ..plain()
    });
    assert_eq!(ids(&s.distribution(&logits, &[])), [1, 3]);
    let mut s = sampler(SamplerConfig {
        top_k: 3,
        top_p: 0.8,
        min_p: 0.7,
        ..plain()
    });
    assert_eq!(ids(&s.distribution(&logits, &[])), [1]);
}

#[test]
fn temperature_sharpens_and_flattens() {
    let logits = [2.0f32, 1.0, 0.0];
    let expected = |t: f64| {
        let e: Vec<f64> = logits.iter().map(|&l| (l as f64 / t).exp()).collect();
        let z: f64 = e.iter().sum();
        e.iter().map(|x| x / z).collect::<Vec<_>>()
    };
    let draws = 20_000;
    let mut top = Vec::new();
    for t in [0.5f32, 1.0, 2.0] {
        let mut s = sampler(SamplerConfig {
            temperature: t,
            seed: 42,
            ..plain()
        });
        let want = expected(t as f64);
        let exact = s.distribution(&logits, &[]);
        for (id, p) in &exact {
            assert!((p - want[*id as usize]).abs() < 1e-6);
        }
        let got = frequencies(&mut s, &logits, draws);
        for (g, w) in got.iter().zip(&want) {
            // ~5 standard deviations at 20k draws.
            assert!((g - w).abs() < 0.02, "t = {t}: {got:?} vs {want:?}");
        }
        top.push(got[0]);
    }
    assert!(top[0] > top[1] + 0.1 && top[1] > top[2] + 0.1, "{top:?}");
}

#[test]
fn repetition_penalty_both_signs() {
    let logits = [2.0f32, -2.0, 1.0, -1.0];
    let mut s = sampler(SamplerConfig {
        repeat_penalty: 2.0,
        ..plain()
    });
    let d = s.distribution(&logits, &[0, 1, 0]);
    // Token 0: 2 / 2 = 1; token 1: -2 * 2 = -4; others unchanged.
    let adjusted = [1.0f64, -4.0, 1.0, -1.0];
    let z: f64 = adjusted.iter().map(|l| l.exp()).sum();
    for (id, p) in d {
        assert!((p - adjusted[id as usize].exp() / z).abs() < 1e-9, "{id}");
    }
}

#[test]
fn repeat_last_n_limits_the_window() {
    let logits = [2.0f32, 1.9];
    let cfg = SamplerConfig {
        repeat_penalty: 1.5,
        repeat_last_n: 2,
        ..SamplerConfig::greedy()
    };
    let mut s = sampler(cfg.clone());
    assert_eq!(s.sample(&logits, &[1, 1, 1]), 0);
    assert_eq!(s.sample(&logits, &[0, 1, 1]), 0, "0 is outside the window");
    assert_eq!(s.sample(&logits, &[1, 0, 0]), 1);
    assert_eq!(s.sample(&logits, &[0, 1, 0]), 0, "both penalized");
    let mut s = sampler(SamplerConfig {
        repeat_last_n: 0,
        ..cfg
    });
    assert!(s.is_greedy(), "window 0 turns penalties off");
    assert_eq!(s.sample(&logits, &[0]), 0);
}

#[test]
fn presence_and_frequency_penalties() {
    let logits = [0.0f32, 0.0, 0.0];
    let mut s = sampler(SamplerConfig {
        presence_penalty: 0.5,
        frequency_penalty: 0.25,
        ..plain()
    });
    let d = s.distribution(&logits, &[0, 0, 0, 1]);
    let adjusted = [-(0.5 + 3.0 * 0.25f64), -(0.5 + 0.25), 0.0];
    let z: f64 = adjusted.iter().map(|l| l.exp()).sum();
    for (id, p) in d {
        assert!((p - adjusted[id as usize].exp() / z).abs() < 1e-6, "{id}");
    }
}

#[test]
fn logit_bias_and_ban() {
    let logits = [1.0f32, 1.0, 1.0, 1.0];
    let mut s = sampler(SamplerConfig {
        logit_bias: vec![(0, f32::NEG_INFINITY), (2, 2.0f32.ln()), (9, 5.0)],
        ..plain()
    });
    let d = s.distribution(&logits, &[]);
    assert_eq!(ids(&d), [1, 2, 3]);
    let p2 = d.iter().find(|x| x.0 == 2).unwrap().1;
    assert!((p2 - 0.5).abs() < 1e-6, "{p2}");
    for _ in 0..200 {
        assert_ne!(s.sample(&logits, &[]), 0);
    }
    // Bias applies after the penalty: the ban holds for repeated tokens too.
    let mut s = sampler(SamplerConfig {
        repeat_penalty: 0.5,
        logit_bias: vec![(0, f32::NEG_INFINITY)],
        ..SamplerConfig::greedy()
    });
    assert_eq!(s.sample(&[5.0, 1.0], &[0, 0]), 1);
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = [
        SamplerConfig {
            temperature: f32::NAN,
            ..Default::default()
        },
        SamplerConfig {
            temperature: f32::INFINITY,
            ..Default::default()
        },
        SamplerConfig {
            top_p: 0.0,
            ..Default::default()
        },
        SamplerConfig {
            top_p: 1.5,
            ..Default::default()
        },
        SamplerConfig {
            top_p: f32::NAN,
            ..Default::default()
        },
        SamplerConfig {
            min_p: -0.1,
            ..Default::default()
        },
        SamplerConfig {
            min_p: 1.01,
            ..Default::default()
        },
        SamplerConfig {
            min_p: f32::NAN,
            ..Default::default()
        },
        SamplerConfig {
            repeat_penalty: 0.0,
            ..Default::default()
        },
        SamplerConfig {
            repeat_penalty: f32::NAN,
            ..Default::default()
        },
        SamplerConfig {
            presence_penalty: f32::INFINITY,
            ..Default::default()
        },
        SamplerConfig {
            frequency_penalty: f32::NAN,
            ..Default::default()
        },
        SamplerConfig {
            logit_bias: vec![(3, 1.0), (4, f32::NAN)],
            ..Default::default()
        },
    ];
    for cfg in bad {
        let err = cfg.validate().unwrap_err();
        assert!(Sampler::new(cfg.clone()).is_err(), "{cfg:?}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        SamplerConfig {
            top_p: 0.0,
            ..Default::default()
        }
        .validate(),
        Err(SampleError::TopP(0.0))
    );

    let good = [
        SamplerConfig::default(),
        SamplerConfig::greedy(),
        SamplerConfig {
            temperature: -3.0,
            ..Default::default()
        },
        SamplerConfig {
            temperature: f32::NEG_INFINITY,
            ..Default::default()
        },
        SamplerConfig {
            top_p: 1.0,
            min_p: 1.0,
            presence_penalty: -1.0,
            frequency_penalty: -0.5,
            logit_bias: vec![(0, f32::NEG_INFINITY), (1, f32::INFINITY)],
            ..Default::default()
        },
    ];
    for cfg in good {
        assert!(Sampler::new(cfg.clone()).is_ok(), "{cfg:?}");
    }
}

#[test]
fn defaults_are_llama_cpp_like() {
    let c = SamplerConfig::default();
    assert_eq!(
        (c.temperature, c.top_k, c.top_p, c.min_p, c.repeat_penalty),
        (0.8, 40, 0.95, 0.05, 1.0)
    );
    assert_eq!(c.repeat_last_n, 64);
    assert_eq!(c.seed, DEFAULT_SEED);
    let s = sampler(c);
    assert!(!s.is_greedy());
    assert_eq!(s.config().top_k, 40);
}
