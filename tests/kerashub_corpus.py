"""A corpus of KerasHub configs built in the test session: tiny hyperparameters, in-memory
vocabularies, no weights, nothing downloaded. Each entry is what
``keras.saving.serialize_keras_object`` writes, and single-mistake mutations of some of them
carry the JSON pointer a person would change.

Run as a script it prints how many documents it built and how long that took.
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SMALL = {"num_layers": 1, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16}
GQA = {
    "vocabulary_size": 30,
    "num_layers": 1,
    "num_query_heads": 2,
    "num_key_value_heads": 1,
    "hidden_dim": 8,
    "intermediate_dim": 16,
}
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(20)]
BPE_VOCABULARY = {"<|endoftext|>": 0, "a": 1, "b": 2, "Ġ": 3, "Ġa": 4, "ab": 5}
BPE_MERGES = ["Ġ a", "a b"]


@dataclass(frozen=True)
class Mutation:
    """One mistake made in one clean document, and where a person would fix it."""

    name: str
    base: str  # the clean document it was made in
    value: Any  # the mutated document
    pointer: str  # RFC 6901 pointer of the key or value to change
    code: str  # the fast check's code for it


def _builders(kh: Any) -> dict[str, Callable[[], Any]]:
    models, layers = kh.models, kh.layers

    def bert() -> Any:
        return models.BertBackbone(vocabulary_size=len(WORDS), max_sequence_length=16, **SMALL)

    def gpt2() -> Any:
        return models.GPT2Backbone(
            vocabulary_size=len(BPE_VOCABULARY), max_sequence_length=16, **SMALL
        )

    def vit() -> Any:
        return models.ViTBackbone(
            image_shape=(16, 16, 3),
            patch_size=8,
            num_layers=1,
            num_heads=2,
            hidden_dim=8,
            mlp_dim=16,
        )

    def resnet() -> Any:
        return models.ResNetBackbone(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[3],
            stackwise_num_filters=[64],
            stackwise_num_blocks=[1],
            stackwise_num_strides=[1],
            block_type="basic_block",
            image_shape=(32, 32, 3),
        )

    def bert_tokenizer() -> Any:
        return models.BertTokenizer(vocabulary=WORDS)

    def gpt2_tokenizer() -> Any:
        return models.GPT2Tokenizer(vocabulary=BPE_VOCABULARY, merges=BPE_MERGES)

    def bert_classifier() -> Any:
        preprocessor = models.BertTextClassifierPreprocessor(bert_tokenizer(), sequence_length=8)
        return models.BertTextClassifier(bert(), num_classes=3, preprocessor=preprocessor)

    def gpt2_causal_lm() -> Any:
        preprocessor = models.GPT2CausalLMPreprocessor(gpt2_tokenizer(), sequence_length=8)
        return models.GPT2CausalLM(gpt2(), preprocessor=preprocessor)

    def vit_classifier() -> Any:
        return models.ViTImageClassifier(vit(), num_classes=2)

    def resnet_classifier() -> Any:
        converter = layers.ResNetImageConverter(image_size=(32, 32), scale=1 / 255.0)
        preprocessor = models.ResNetImageClassifierPreprocessor(image_converter=converter)
        return models.ResNetImageClassifier(resnet(), num_classes=2, preprocessor=preprocessor)

    def llama_causal_lm() -> Any:
        return models.LlamaCausalLM(models.LlamaBackbone(**GQA), preprocessor=None)

    def gemma_causal_lm() -> Any:
        return models.GemmaCausalLM(models.GemmaBackbone(**GQA, head_dim=4), preprocessor=None)

    return {
        # backbones
        "BertBackbone": bert,
        "GPT2Backbone": gpt2,
        "DistilBertBackbone": lambda: models.DistilBertBackbone(
            vocabulary_size=30, max_sequence_length=16, **SMALL
        ),
        "RobertaBackbone": lambda: models.RobertaBackbone(
            vocabulary_size=30, max_sequence_length=16, **SMALL
        ),
        "LlamaBackbone": lambda: models.LlamaBackbone(**GQA),
        "MistralBackbone": lambda: models.MistralBackbone(**GQA),
        "GemmaBackbone": lambda: models.GemmaBackbone(**GQA, head_dim=4),
        "ViTBackbone": vit,
        "ResNetBackbone": resnet,
        "CSPNetBackbone": lambda: models.CSPNetBackbone(
            stem_filters=8,
            stem_kernel_size=3,
            stem_strides=1,
            stackwise_depth=[1],
            stackwise_strides=[2],
            stackwise_num_filters=[8],
            block_type="dark_block",
            stage_type="dark",
            image_shape=(32, 32, 3),
        ),
        "DenseNetBackbone": lambda: models.DenseNetBackbone(
            stackwise_num_repeats=[1, 1], image_shape=(32, 32, 3)
        ),
        "EfficientNetBackbone": lambda: models.EfficientNetBackbone(
            width_coefficient=0.1,
            depth_coefficient=0.1,
            stackwise_kernel_sizes=[3],
            stackwise_num_repeats=[1],
            stackwise_input_filters=[8],
            stackwise_output_filters=[8],
            stackwise_expansion_ratios=[1],
            stackwise_squeeze_and_excite_ratios=[0.25],
            stackwise_strides=[1],
            stackwise_block_types=["v1"],
            image_shape=(32, 32, 3),
        ),
        "WhisperBackbone": lambda: models.WhisperBackbone(
            vocabulary_size=30,
            num_mels=8,
            max_encoder_sequence_length=16,
            max_decoder_sequence_length=8,
            **SMALL,
        ),
        "CLIPTextEncoder": lambda: models.CLIPTextEncoder(
            vocabulary_size=30,
            embedding_dim=8,
            hidden_dim=8,
            num_layers=1,
            num_heads=2,
            intermediate_dim=16,
            intermediate_activation="quick_gelu",
            max_sequence_length=8,
        ),
        # tokenizers and preprocessors
        "BertTokenizer": bert_tokenizer,
        "GPT2Tokenizer": gpt2_tokenizer,
        "WordPieceTokenizer": lambda: kh.tokenizers.WordPieceTokenizer(vocabulary=WORDS),
        # task models
        "BertTextClassifier": bert_classifier,
        "GPT2CausalLM": gpt2_causal_lm,
        "LlamaCausalLM": llama_causal_lm,
        "GemmaCausalLM": gemma_causal_lm,
        "ViTImageClassifier": vit_classifier,
        "ResNetImageClassifier": resnet_classifier,
        # layers
        "TransformerEncoder": lambda: layers.TransformerEncoder(intermediate_dim=8, num_heads=2),
        "TransformerDecoder": lambda: layers.TransformerDecoder(intermediate_dim=8, num_heads=2),
        "PositionEmbedding": lambda: layers.PositionEmbedding(sequence_length=8),
        "RotaryEmbedding": lambda: layers.RotaryEmbedding(),
        "ReversibleEmbedding": lambda: layers.ReversibleEmbedding(10, 4),
        "TokenAndPositionEmbedding": lambda: layers.TokenAndPositionEmbedding(10, 8, 4),
        "SinePositionEncoding": lambda: layers.SinePositionEncoding(),
        "MaskedLMHead": lambda: layers.MaskedLMHead(vocabulary_size=10, activation="softmax"),
        "CachedMultiHeadAttention": lambda: layers.CachedMultiHeadAttention(num_heads=2, key_dim=4),
        "StartEndPacker": lambda: layers.StartEndPacker(sequence_length=8),
        "MultiSegmentPacker": lambda: layers.MultiSegmentPacker(
            sequence_length=8, start_value=2, end_value=3
        ),
        "ResNetImageConverter": lambda: layers.ResNetImageConverter(image_size=(32, 32)),
    }


def clean_documents() -> dict[str, Any]:
    """Every clean document, by name, as JSON text would hold it (tuples become lists)."""
    import keras
    import keras_hub

    documents: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in _builders(keras_hub).items():
            serialized = keras.saving.serialize_keras_object(build())
            documents[name] = json.loads(json.dumps(serialized))
    return documents


def _set(value: Any, pointer: str, new: Any) -> Any:
    out = copy.deepcopy(value)
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    target = out
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[parts[-1]] = new
    return out


def _rename(value: Any, pointer: str, new_key: str) -> Any:
    out = copy.deepcopy(value)
    parts = pointer.split("/")[1:]
    target = out
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[new_key] = target.pop(parts[-1])
    return out


def mutations(documents: dict[str, Any]) -> list[Mutation]:
    """Single mistakes Keras rejects, each in one clean document."""
    out: list[Mutation] = []

    def typo(base: str, pointer: str, new_key: str) -> None:
        parent = pointer.rsplit("/", 1)[0]
        out.append(
            Mutation(
                f"{base}: key {new_key!r}",
                base,
                _rename(documents[base], pointer, new_key),
                f"{parent}/{new_key}",
                "LCF102",
            )
        )

    def wrong(base: str, pointer: str, value: Any, code: str) -> None:
        out.append(
            Mutation(
                f"{base}: {pointer} = {value!r}",
                base,
                _set(documents[base], pointer, value),
                pointer,
                code,
            )
        )

    typo("BertBackbone", "/config/num_layers", "num_layer")
    typo("GPT2Backbone", "/config/hidden_dim", "hiden_dim")
    typo("LlamaBackbone", "/config/num_key_value_heads", "num_kv_heads")
    typo("TransformerEncoder", "/config/intermediate_dim", "intermediate_size")
    typo("ViTBackbone", "/config/patch_size", "patch")
    typo("BertTextClassifier", "/config/num_classes", "n_classes")
    wrong("BertBackbone", "/config/num_heads", "2", "LCF104")
    wrong("GemmaBackbone", "/config/hidden_dim", 8.5, "LCF104")
    wrong("TransformerEncoder", "/config/activation", "rleu", "LCF105")
    wrong("MaskedLMHead", "/config/activation", "softmx", "LCF105")
    wrong("ReversibleEmbedding", "/config/input_dim", "ten", "LCF104")
    # Keras finds a registered class by its registered_name and ignores class_name.
    wrong("BertBackbone", "/registered_name", "keras_hub>BertBackbon", "LCF101")
    wrong("TransformerDecoder", "/registered_name", "keras_hub>TransformerDecodr", "LCF101")
    wrong(
        "BertTextClassifier", "/config/backbone/registered_name", "keras_hub>BertBackbne", "LCF101"
    )
    wrong(
        "GPT2CausalLM",
        "/config/preprocessor/config/tokenizer/config/sequence_length",
        "8",
        "LCF104",
    )
    wrong(
        "ResNetImageClassifier",
        "/config/preprocessor/config/image_converter/config/interpolation",
        "bilinearr",
        "LCF105",
    )
    wrong("GPT2CausalLM", "/config/backbone/config/num_layers", "1", "LCF104")
    wrong("ResNetBackbone", "/config/block_type", "basic", "LCF105")
    wrong("CSPNetBackbone", "/config/stage_type", "darkk", "LCF105")
    wrong("WhisperBackbone", "/config/num_mels", [8], "LCF104")
    return out


def main() -> None:
    started = time.perf_counter()
    documents = clean_documents()
    built = time.perf_counter() - started
    found = mutations(documents)
    print(f"{len(documents)} clean documents in {built:.1f} s, {len(found)} mutations")


if __name__ == "__main__":
    main()


def keras_error(value: Any) -> str | None:
    """What Keras says when it refuses to load ``value`` (safe mode), None when it loads."""
    import keras

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.saving.deserialize_keras_object(json.loads(json.dumps(value)), safe_mode=True)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
