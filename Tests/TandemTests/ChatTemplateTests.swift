import Testing
import Tandem

/// The ChatML rendering must equal what Hugging Face's `apply_chat_template` gives for
/// SmolLM2-Instruct's template (its published source below; the expected string is what that
/// Jinja produces for one user message with add_generation_prompt=True).
struct ChatTemplateTests {
    static let smolTemplate = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    @Test func recognisesChatMLAndItsDefaultSystemMessage() {
        let t = ChatTemplate(source: Self.smolTemplate)
        #expect(t == .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        #expect(t?.render(user: "Hi") == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(ChatTemplate(source: "{{ bos_token }}[INST] {{ m }} [/INST]") == nil)
    }
}
