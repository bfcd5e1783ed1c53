// Fuzz target: the safetensors reader (Sources/TandemFormat/Safetensors.swift), the converter's
// input. The input is a whole file (8-byte header length, JSON header, data). Once a file opens,
// every float tensor is converted to f32, as the converter does.
import FuzzSupport
import TandemFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let file = try? SafetensorsFile(path: ScratchFile.write(input(data, size))) else { return 0 }
    for name in file.names {
        guard let tensor = file.tensors[name] else { fatalError("names lists \(name), which tensors lacks") }
        _ = try? tensor.floats()
    }
    _ = file.metadata.count
    return 0
}

@main enum FuzzSafetensors { static func main() { runLibFuzzer(fuzzOneInput) } }
