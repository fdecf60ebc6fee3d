"""The prompts the benchmark sends: the guide's question and Korean prompts of other lengths, written
for this project and shipped with it, so a run needs no download and measures the same text every time.

The prompt's length moves the time to the first token (the prefill processes every prompt token) and
barely moves the time between tokens. The longest is roughly 1,000 tokens, about
half of the guide's MAX_INPUT_LENGTH of 2048; token counts depend on the model's tokenizer, so the
benchmark records the count the server reports for each request (its input_tokens).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from workstation.lambda_checks import inference_apis


@dataclass(frozen=True)
class Prompt:
    """A prompt the benchmark can send, by name."""

    name: str
    text: str
    about: str


# An explanation of LLM inference and its measurement, written for these prompts; the longer prompts
# ask about it, so the model answers from the text it was given.
ARTICLE = (
    "대규모 언어 모델이 답을 만드는 과정은 크게 두 단계로 나뉜다. 첫째는 프리필(prefill) 단계로, 모델은 "
    "입력 프롬프트의 모든 토큰을 한 번의 순전파로 처리하면서 각 층의 키와 값 텐서를 계산해 KV 캐시에 "
    "저장한다. 이 단계는 많은 토큰을 한꺼번에 행렬 곱으로 처리하므로 연산량은 크지만 가속기의 연산 "
    "장치를 효율적으로 채운다. 둘째는 디코드(decode) 단계로, 모델은 직전에 생성한 토큰 하나를 입력으로 "
    "받아 다음 토큰 하나를 만든다. 토큰마다 가중치 전체와 지금까지 쌓인 KV 캐시를 메모리에서 다시 읽어야 "
    "하므로, 디코드 속도는 연산 능력보다 메모리 대역폭에 좌우되는 경우가 많다.",
    "그래서 사용자가 느끼는 지연 시간도 두 가지로 나누어 보는 것이 좋다. 첫 토큰까지의 시간(TTFT)은 "
    "요청이 도착해 대기열을 지나고 프리필이 끝나 첫 토큰이 나올 때까지의 시간으로, 프롬프트가 길수록 "
    "길어진다. 토큰 간 지연 시간(ITL)은 첫 토큰 이후 토큰이 하나씩 나오는 간격으로, 디코드 단계의 속도를 "
    "그대로 보여 준다. 전체 응답 시간은 대략 TTFT에 생성한 토큰 수와 토큰 간 지연 시간의 곱을 더한 값이다. "
    "예를 들어 토큰 간 지연이 49밀리초이고 512개 토큰을 생성하면 디코드에만 약 25초가 걸린다.",
    "처리량을 높이는 가장 흔한 방법은 여러 요청을 하나의 배치로 묶어 함께 디코드하는 것이다. 디코드 한 "
    "스텝에서 가중치를 한 번 읽어 여러 요청의 토큰을 동시에 계산하므로, 배치 크기를 늘리면 초당 생성 "
    "토큰 수가 거의 비례해서 늘어난다. 다만 배치가 커질수록 스텝 하나에 걸리는 시간도 조금씩 늘어나고, "
    "배치가 가득 찬 상태에서 도착한 요청은 빈자리가 생길 때까지 기다려야 하므로 TTFT가 급격히 길어진다. "
    "연속 배칭(continuous batching)은 끝난 요청의 자리에 새 요청을 스텝 단위로 끼워 넣어 이런 대기를 줄인다.",
    "AWS Inferentia2에서는 Neuron 컴파일러가 모델을 미리 컴파일하는데, 이때 배치 크기와 시퀀스 길이 같은 "
    "텐서의 모양이 고정된다. 예를 들어 배치 크기 4, 시퀀스 길이 4096으로 컴파일한 모델은 한 번에 최대 네 "
    "개의 요청을 디코드하며, 입력과 출력 토큰의 합이 4096을 넘을 수 없다. 모양이 고정되어 있으므로 다시 "
    "컴파일하지 않고는 이 값을 바꿀 수 없고, 서빙 설정의 최대 배치 크기와 최대 토큰 수도 컴파일할 때의 "
    "값과 맞아야 한다. inf2.xlarge 인스턴스에는 Inferentia2 칩 하나, 곧 뉴런 코어 두 개가 있으며, 80억 개 "
    "파라미터 모델을 fp16으로 올리면 가중치만으로 약 16기가바이트의 디바이스 메모리를 쓴다.",
    "엔드포인트의 성능을 잴 때는 동시 요청 수를 1, 2, 4, 8처럼 단계적으로 늘리면서 단계마다 충분한 시간 "
    "동안 요청을 보내는 것이 좋다. 동시 요청 수가 컴파일된 배치 크기보다 작을 때는 처리량이 동시 요청 "
    "수에 따라 늘어나고 지연 시간은 거의 변하지 않는다. 배치 크기를 넘어서면 처리량은 더 늘지 않고 대기 "
    "시간만 TTFT에 더해진다. 이렇게 꺾이는 지점을 찾으면 비용 대비 가장 효율적인 운영 지점과, 지연 시간 "
    "목표를 지키면서 받을 수 있는 최대 부하를 함께 알 수 있다. 또 시간당 인스턴스 가격을 초당 생성 토큰 "
    "수로 나누면 출력 토큰 백만 개당 비용을 계산할 수 있다.",
)


def _about_article(paragraphs: tuple[str, ...], question: str) -> str:
    return "다음 글을 읽고 질문에 답해 줘.\n\n" + "\n\n".join(paragraphs) + f"\n\n질문: {question}"


PROMPTS = {
    prompt.name: prompt
    for prompt in (
        Prompt("guide", inference_apis.PROMPT, 'the guide\'s question, "What is deep learning?"'),
        Prompt("short", "트랜스포머 모델의 셀프 어텐션이 무엇인지 한 문장으로 설명해 줘.", "a one-line question"),
        Prompt(
            "medium",
            "온라인 쇼핑몰의 고객 상담 챗봇을 만들려고 해. 문의는 하루에 약 2만 건이고, 대부분 주문 조회, "
            "환불 절차, 배송 지연에 관한 짧은 질문이야. 답변은 한국어 존댓말로 세 문장 이내여야 하고, "
            "고객이 알려 준 전화번호나 주소 같은 개인정보를 답변에서 되풀이하면 안 돼. 모르는 내용은 "
            "추측하지 말고 상담원 연결을 안내해야 해. 이런 조건을 지키는 시스템 프롬프트를 써 주고, "
            "답변 품질을 어떤 기준으로 평가하면 좋을지 단계별로 알려 줘.",
            "a paragraph of instructions",
        ),
        Prompt(
            "long",
            _about_article(
                ARTICLE[:2], "프리필과 디코드 중 어느 단계가 프롬프트 길이에 더 민감한지 이유와 함께 설명해 줘."
            ),
            "two paragraphs of context and a question",
        ),
        Prompt(
            "very-long",
            _about_article(
                ARTICLE, "동시 요청 수를 컴파일된 배치 크기보다 크게 늘리면 TTFT와 처리량이 어떻게 변하는지 설명해 줘."
            ),
            "five paragraphs of context, roughly 1,000 tokens, and a question",
        ),
    )
}
DEFAULT_PROMPTS = ("guide",)
ALL = "all"


def prompts_option(text: str) -> tuple[Prompt, ...]:
    """An argparse type: comma-separated prompt names, or 'all', in the order given."""
    names = tuple(PROMPTS) if text.strip() == ALL else tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in PROMPTS]
    if unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not distinct names of {', '.join(PROMPTS)}, or {ALL!r}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return tuple(PROMPTS[name] for name in names)


def prompts_help() -> str:
    """What --prompts offers, one entry per prompt: its name, length and what it is."""
    return "; ".join(f"{prompt.name} ({len(prompt.text)} characters, {prompt.about})" for prompt in PROMPTS.values())
