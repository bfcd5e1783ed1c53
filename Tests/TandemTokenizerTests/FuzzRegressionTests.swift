import Testing
import TandemTokenizer

/// Inputs that the fuzz targets (Fuzz/, scripts/fuzz.sh) found to misbehave, each kept as a
/// committed file under Tests/Fixtures/fuzz-regressions so the fix stays fixed. Leaks cannot be
/// seen from here; `scripts/fuzz.sh --replay` runs every such file through its fuzz target, whose
/// LeakSanitizer checks each input.
@Suite struct TokenizerFuzzRegressionTests {
    /// FuzzSentencePieceModel: a model whose vocabulary has an empty piece makes the library's
    /// darts_clone trie throw ("failed to insert key: zero-length key") in the middle of loading.
    /// The shim caught the exception but leaked the half-loaded processor (845 bytes here; in
    /// general in proportion to the model). Loading must throw a typed error, every time.
    @Test func sentencePieceModelThatThrowsInsideTheLibraryIsATypedError() throws {
        let bytes = try Fixtures.bytes("Tests/Fixtures/fuzz-regressions/FuzzSentencePieceModel-darts-exception.model")
        for _ in 0..<100 {
            #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(modelBytes: bytes) }
        }
    }
}
