// Intentionally empty: the target only exports fuzzer_driver.h.
