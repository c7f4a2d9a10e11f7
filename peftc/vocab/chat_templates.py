"""Axolotl's named chat templates that peftc takes, and where each one's text comes from.

TRL keeps byte-identical copies of the templates models ship (``trl/chat_templates/``,
checked against the model repositories by TRL's own tests). A name that has one uses it, so
it renders as the model was trained and TRL's masking applies. Axolotl's own copies render
the same for text conversations, except ``phi_3`` and ``phi_35``: they leave out the EOS
that Phi-3 writes after the last turn (and ``phi_3`` adds a BOS). The other templates are
written here from each family's published format.

Only text is kept here, and nothing is imported: lint reads the names, and the runtime
resolves a name to its text with :func:`template_text`.
"""

from __future__ import annotations

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Mistral 7B Instruct v0.1/v0.2: <s> [INST] system\n\nuser [/INST] answer</s> [INST] ...
MISTRAL_V1 = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}"
    "{%- endif %}{{- bos_token }}{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('After the optional system message, roles must alternate "
    "user/assistant/user/assistant/...') }}{%- endif %}"
    "{%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}"
    "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}"
    "{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported, after an "
    "optional system message') }}{%- endif %}{%- endfor %}"
)

# Mistral 7B Instruct v0.3 (and v0.2 with the v3 tokenizer), without tools: the system text
# goes into the last [INST]: <s>[INST] user[/INST] answer</s>[INST] system\n\nuser[/INST]
MISTRAL_V2V3 = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}"
    "{%- endif %}{%- set ns = namespace(last=-1) %}{%- for message in loop_messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.last = loop.index0 %}{%- endif %}"
    "{%- endfor %}"
    "{{- bos_token }}{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('After the optional system message, roles must alternate "
    "user/assistant/user/assistant/...') }}{%- endif %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.index0 == ns.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] | trim + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported, after an "
    "optional system message') }}{%- endif %}{%- endfor %}"
)

WRITTEN = {"chatml": CHATML, "mistral_v1": MISTRAL_V1, "mistral_v2v3": MISTRAL_V2V3}

# Axolotl's name -> the stem of TRL's copy (trl/chat_templates/<stem>.jinja)
FROM_TRL = {"llama3": "llama3", "gemma": "gemma", "gemma3": "gemma3", "gemma4": "gemma4",
            "phi_3": "phi3", "phi_35": "phi3_5", "qwen_25": "qwen2_5", "qwen3": "qwen3",
            "deepseek_v3": "deepseekv3", "cohere": "cohere"}

NAMED: tuple[str, ...] = (*WRITTEN, *FROM_TRL)
TOKENIZER_DEFAULT = "tokenizer_default"  # the tokenizer's own template (Axolotl's default)
FALLBACK = f"{TOKENIZER_DEFAULT}_fallback_"  # + a name: the tokenizer's own, else the named one
JINJA = "jinja"  # the template is chat_template_jinja's text (or the file it names)


def template_text(name: str) -> str:
    """The Jinja text of a named template (imports TRL for the names it keeps)."""
    if name in WRITTEN:
        return WRITTEN[name]
    import trl.chat_template_utils as templates

    return getattr(templates, f"{FROM_TRL[name]}_chat_template")
