// Imported before the control plane's modules by benchmarks that print figures: the handlers' JSON log
// lines (one per pass, per health change) would bury them. Errors still print.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
