// The one line `tandem bench kernels` gives for the tier the kernels run on (resolving
// TANDEM_ISA is tested in MatMulTests).
import Foundation
import Testing
@testable import TandemKernels

struct KernelISATests {
    @Test func choiceNamesTheTierAndWhy() {
        let line = KernelISA.choice
        #expect(line.hasPrefix("\(KernelISA.current)"), "\(line)")
        for isa in KernelISA.available { #expect(line.contains(isa.rawValue), "\(line) lacks \(isa)") }
        if let forced = ProcessInfo.processInfo.environment["TANDEM_ISA"], !forced.isEmpty {
            #expect(line.contains("forced by TANDEM_ISA"), "\(line)")
        } else {
            #expect(KernelISA.current == KernelISA.best && line.contains("the best this CPU runs"), "\(line)")
            // A tier above the best one is named with what it needs.
            if let missing = KernelISA.allCases.drop(while: { $0 != KernelISA.best }).dropFirst().first(where: { !$0.isAvailable && $0 != .neon }) {
                #expect(line.contains("not \(missing): \(missing.requirement)"), "\(line)")
            }
        }
    }
}
