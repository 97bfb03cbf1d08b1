"""The 'chat' fine-tuning task: records rendered exactly as inference renders them; the target-token loss."""

from __future__ import annotations

import json

import pytest

from augment.errors import DataError
from augment.finetune.chat import chat_prompt, chat_segments, chat_target, format_chat
from augment.llm.constrained import constrained_messages
from augment.llm.base import GenerateOptions
from augment.tools import builtin
from augment.types import Message, ToolCall

CALC = builtin("calculator").spec()


def _episode() -> dict:
    call = ToolCall("calculator", {"expression": "12 * 24"}, id="call_1")
    msgs = [Message.system("Be brief."), Message.user("12 boxes of 24?"), Message.assistant("", [call]),
            Message.tool("288", tool_call_id="call_1", name="calculator"), Message.assistant("288 pencils.")]
    return {"messages": [m.to_dict() for m in msgs], "tools": [CALC]}


def test_every_turn_is_learned_after_the_exact_inference_prompt(default_llm):
    record, tok = _episode(), default_llm.tokenizer
    pieces = chat_segments(record, tok)
    learned = [t for t, learn in pieces if learn]
    assert learned[0].startswith('{"name": "calculator", "arguments": {"expression": "12 * 24"}}')
    assert learned[1].startswith('{"name": "final_answer", "arguments": {"answer": "288 pencils."}}')
    # the text before each learned turn is what the agent's constrained call renders
    msgs = [Message.from_dict(m) for m in record["messages"]]
    opts = GenerateOptions(tools=[CALC], tool_choice="auto")
    for k, j in enumerate((2, 4)):
        before = "".join(t for t, _ in pieces[: 2 * k + 1])
        assert before == default_llm.render_prompt(constrained_messages(msgs[:j], opts), tools=[CALC])
    assert chat_prompt(record, tok).endswith("288<|im_end|>\n<|im_start|>assistant\n")
    assert json.loads(chat_target(record))["arguments"]["answer"] == "288 pencils."


def test_labels_cover_only_the_assistant_turns(default_llm):
    tok = default_llm.tokenizer
    feats = format_chat([_episode()], tok).features[0]
    learned = tok.decode([t for t, label in zip(feats["input_ids"], feats["labels"]) if label != -100])
    assert "12 * 24" in learned and "288 pencils." in learned
    assert "Be brief" not in learned and "boxes" not in learned


def test_bad_records_name_the_problem(default_llm):
    with pytest.raises(DataError, match="last message must be the assistant"):
        format_chat([{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "?"}]}], default_llm.tokenizer)
    with pytest.raises(DataError, match="has no 'tools'"):
        chat_target({"messages": [{"role": "user", "content": "x"},
                                  {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}]})
    with pytest.raises(DataError, match="longer than max_length"):
        format_chat([_episode()], default_llm.tokenizer, max_length=10)


def test_target_token_loss_equals_the_models_own_loss():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from augment.finetune.formatting import collate
    from augment.finetune.trainer import default_loss, target_token_loss

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    feats = [{"input_ids": [5, 6, 7, 8, 9], "attention_mask": [1] * 5, "labels": [-100, -100, 7, 8, 9]},
             {"input_ids": [3, 4, 10], "attention_mask": [1] * 3, "labels": [-100, 4, 10]}]
    batch = collate(feats, 0)
    with torch.no_grad():
        assert torch.allclose(target_token_loss(model, batch), default_loss(model, batch), atol=1e-5)
