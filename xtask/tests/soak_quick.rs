//! `cargo xtask soak --quick` end to end: builds the debug binaries (reused when already
//! built), runs a small soak (500 random call cycles) against a real Huddle and checks that
//! nothing failed or leaked.

#[path = "support/quick.rs"]
mod quick;

#[test]
fn soak_quick_leaves_nothing_behind() -> Result<(), Box<dyn std::error::Error>> {
    let run = quick::run("soak", "soak-quick.md")?;
    assert!(
        run.stdout.contains("soak: PASS"),
        "no PASS:\n{}",
        run.stdout
    );
    run.assert_report_contains(&[
        "# Huddle soak (quick run)",
        "| cycles | 500 ",
        "| failures (timeouts, lost connections, unexpected errors) | 0 |",
        "| left after the run (must be 0) | none |",
        "| verdict | **pass** |",
        "Final `/debug/stats`",
    ]);
    let text = run.report;
    let elapsed = run.elapsed;
    // The cycles really exercised the SFU: the server announced producers, and consumes
    // succeeded (more `consume` requests than refusals). Counted, not sampled: a quick run can
    // end between two samples of the live-object peaks.
    let count = |name: &str| -> u64 {
        let row = format!("| {name} | ");
        text.lines()
            .find_map(|l| l.strip_prefix(&row))
            .and_then(|rest| rest.trim_end_matches(['|', ' ']).parse().ok())
            .unwrap_or(0)
    };
    assert!(count("newProducer") > 0, "no newProducer events:\n{text}");
    assert!(count("produce audio") > 0, "no produce:\n{text}");
    assert!(
        count("consume") > count("consume: Producer not found"),
        "no consume succeeded:\n{text}"
    );
    // No time limit: a fresh checkout first builds the binaries inside this test; the soak
    // itself takes well under a minute.
    eprintln!("soak --quick took {elapsed:?}");
    Ok(())
}
