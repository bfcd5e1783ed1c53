import TandemFormat
import TandemModels

/// Why a conversion was refused. Each reads as one line on the command line.
public enum ConvertError: Error, CustomStringConvertible, Sendable {
    case badOption(String)
    case source(String)
    case format(FormatError)
    /// The checkpoint's config.json is not a valid config of its architecture.
    case config(ConfigError)
    case unsupportedModel(String)
    case missingTensor(String)
    case shape(tensor: String, expected: [Int], actual: [Int])
    case nonFinite(tensor: String)
    case write(TandemFileWriter.WriteError)

    public var description: String {
        switch self {
        case let .badOption(m): m
        case let .source(m): m
        case let .format(e): e.description
        case let .config(e): e.description
        case let .unsupportedModel(t): "unsupported model_type \(t) (supported: \(supportedList))"
        case let .missingTensor(n): "checkpoint has no tensor \(n)"
        case let .shape(t, e, a): "tensor \(t) has shape \(a), the config implies \(e)"
        case let .nonFinite(t): "tensor \(t) contains NaN or infinite values"
        case let .write(e): e.description
        }
    }

    private var supportedList: String { ArchitectureRegistry.supportedModelTypes.joined(separator: ", ") }
}
