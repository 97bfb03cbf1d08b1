"""LangChain's standard chat-model suites, run on ChatAugment.

- unit suite: over a scripted FakeLLM (it checks construction, binding and parameters, not generation);
- integration suite: over the REAL embedded default model (the session fixture ``default_llm``).

Features are marked unsupported only where a 135M text-only model cannot do them.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from augment.langchain.chat import ChatAugment
from augment.llm.fake import FakeLLM

# tool calls and JSON output of a local model go through constrained decoding (augment.llm.constrained)
HAS_CONSTRAINED = importlib.util.find_spec("augment.llm.constrained") is not None


class TestChatAugmentUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatAugment]:
        return ChatAugment

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": FakeLLM(["Hello!"], cycle=True)}


@pytest.mark.real_model
class TestChatAugmentIntegration(ChatModelIntegrationTests):
    _llm: Any = None

    @pytest.fixture(autouse=True)
    def _real_model(self, default_llm: Any) -> None:
        # autouse fixtures run before `model`, so chat_model_params below sees the shared session model
        type(self)._llm = default_llm

    @property
    def chat_model_class(self) -> type[ChatAugment]:
        return ChatAugment

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": self._llm, "max_tokens": 12}  # small: keeps the suite fast on a CPU

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"max_tokens": 32}  # constrained decoding closes the JSON if the budget runs out

    @property
    def has_tool_calling(self) -> bool:
        # a 135M model emits valid calls only under constrained decoding
        return HAS_CONSTRAINED

    @property
    def has_structured_output(self) -> bool:
        # likewise: JSON that matches a schema needs constrained decoding
        return HAS_CONSTRAINED

    @property
    def supports_json_mode(self) -> bool:
        # json_mode only forces *some* JSON object; a 135M model does not reliably choose the asked keys
        return False

    # The three tests below pass through the whole path (the call is well-formed and validated) but grade
    # the 135M model's judgement: the suite documents xfail for models that do not reliably choose to call.
    @pytest.mark.xfail(strict=True, reason="135M model often fills the string argument with '' (schema-valid, but empty)")
    def test_bind_runnables_as_tools(self, model: Any) -> None:
        super().test_bind_runnables_as_tools(model)

    @pytest.mark.xfail(strict=True, reason="with tool_choice='auto' the 135M model usually answers directly instead of calling")
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model: Any) -> None:
        super().test_agent_loop(model)

    @pytest.mark.xfail(strict=True, reason="the 135M model rarely copies the Chinese name into the argument")
    def test_unicode_tool_call_integration(self, model: Any, *, tool_choice: str | None = None,
                                           force_tool_call: bool = True) -> None:
        super().test_unicode_tool_call_integration(model, tool_choice=tool_choice, force_tool_call=force_tool_call)

    @property
    def supports_image_inputs(self) -> bool:
        return False  # SmolLM2 is a text-only model

    @property
    def supports_image_urls(self) -> bool:
        return False  # text-only model

    @property
    def supports_pdf_inputs(self) -> bool:
        return False  # text-only model

    @property
    def supports_audio_inputs(self) -> bool:
        return False  # text-only model

    @property
    def supports_image_tool_message(self) -> bool:
        return False  # text-only model

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False  # text-only model
