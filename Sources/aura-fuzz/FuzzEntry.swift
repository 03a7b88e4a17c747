import Fuzzing

/// The libFuzzer entry point: every input goes through a fresh connection (`ProtocolFuzzer`), and a broken rule
/// is a crash libFuzzer saves. Built only on request (`AURA_FUZZ=1`, see README "Fuzzing"); `--sanitize=fuzzer`
/// links libFuzzer's `main`, which is why this target is parsed as a library.
private let fuzzer = ProtocolFuzzer(timeout: .seconds(5))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let outcome = fuzzer.run(ProtocolFuzzer.stream(fromFuzzInput: input))
    if let violation = outcome.violations.first {
        fatalError("protocol rule broken (\(outcome.violations.count) in all): \(violation)")
    }
    return 0
}
