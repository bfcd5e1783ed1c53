// Nothing to compile: the module only declares LLVMFuzzerRunDriver, which the libFuzzer runtime
// (linked by -sanitize=fuzzer) defines.
