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

    /// For `tandem chat`: the same, but without SA_RESTART, so a Ctrl-C while the prompt waits for
    /// a line interrupts the read (readLine returns nil and the chat ends) instead of waiting on.
    static func installForChat() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            if Interrupt.requested { _exit(130) }
            Interrupt.requested = true
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
    }
}
