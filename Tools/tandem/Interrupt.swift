// Ctrl-C during generation: the first SIGINT asks the loop to stop after the current token, so
// the partial output is flushed and valid; a second one exits at once.
import Foundation

enum Interrupt {
    nonisolated(unsafe) static var requested = false

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested { _exit(130) }
            Interrupt.requested = true
        }
    }
}
