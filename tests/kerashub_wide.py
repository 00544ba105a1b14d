"""A wide KerasHub corpus: every public class of ``keras_hub.models`` and ``keras_hub.layers``
(backbones, tasks, preprocessors, tokenizers, image and audio converters, layers) that builds
offline with tiny hyperparameters. Required constructor arguments are read from the
signature and filled from a table of small values; tokenizers get in-memory vocabularies
(WordPiece and byte-pair vocabularies, a SentencePiece model trained on a few words), grown by
the special tokens a tokenizer says it misses. Nothing is downloaded, no preset is loaded and no
weights are read.

Unlike tests/kerashub_corpus.py, nobody chose these models: whatever builds is in.

Run as a script it prints how many classes built, by kind, and why the others did not:

    python tests/kerashub_wide.py [--verbose]
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(20)]
BPE_VOCABULARY = {"<|endoftext|>": 0, "a": 1, "b": 2, "Ġ": 3, "Ġa": 4, "ab": 5}
BPE_MERGES = ["Ġ a", "a b"]
SENTENCES = ["the quick brown fox jumps over the lazy dog", "a b c d e f g h i j k l m n o p"]

# Small values for the constructor arguments most classes require, by name.
SMALL: dict[str, Any] = {
    "vocabulary_size": 64,
    "vocab_size": 64,
    "num_layers": 2,
    "num_heads": 2,
    "num_query_heads": 2,
    "num_key_value_heads": 1,
    "num_attention_heads": 2,
    "hidden_dim": 8,
    "hidden_size": 8,
    "intermediate_dim": 16,
    "intermediate_size": 16,
    "head_dim": 4,
    "head_size": 4,
    "key_dim": 4,
    "embedding_dim": 8,
    "embed_dim": 8,
    "mlp_dim": 16,
    "num_classes": 2,
    "num_labels": 2,
    "patch_size": 4,
    "image_shape": (32, 32, 3),
    "image_size": (32, 32),
    "max_sequence_length": 16,
    "sequence_length": 8,
    "max_position_embeddings": 16,
    "num_experts": 2,
    "top_k": 1,
    "moe_intermediate_dim": 8,
    "layer_norm_epsilon": 1e-6,
    "rope_theta": 10000.0,
    "dropout": 0.0,
    "rate": 0.1,
    "output_dim": 8,
    "input_dim": 10,
    "projection_dim": 8,
    "encoder_num_layers": 1,
    "decoder_num_layers": 1,
    "encoder_hidden_dim": 8,
    "decoder_hidden_dim": 8,
    "encoder_intermediate_dim": 16,
    "decoder_intermediate_dim": 16,
    "encoder_num_heads": 2,
    "decoder_num_heads": 2,
    "num_query_tokens": 2,
    "start_value": 2,
    "end_value": 3,
    "mask_token_id": 4,
    "attention_bias": False,
    "mlp_bias": False,
    "attention_dropout": 0.0,
    "partial_rotary_factor": 0.5,
    "sliding_window": 8,
    "stackwise_num_filters": [8, 8],
    "stackwise_num_blocks": [1, 1],
    "stackwise_num_strides": [1, 2],
    "stackwise_num_repeats": [1, 1],
    "stackwise_strides": [1, 2],
    "stackwise_depth": [1, 1],
    "depths": [1, 1],
    "bounding_box_format": "xyxy",
    "min_level": 3,
    "max_level": 4,
    "window_size": 2,
    "use_bias": True,
    "mlp_ratio": 2.0,
    "shared_expert_intermediate_size": 8,
    "shared_expert_intermediate_dim": 8,
    "rope_layer_enabled_list": [True, True],
    "layer_types": ["full_attention", "full_attention"],
    "encoder_num_attention_heads": 2,
    "decoder_num_attention_heads": 2,
    "encoder_num_key_value_heads": 1,
    "decoder_num_key_value_heads": 1,
    "encoder_head_dim": 4,
    "decoder_head_dim": 4,
    "encoder_layer_types": ["full_attention"],
    "decoder_layer_types": ["full_attention"],
    "filter_dim": 8,
    "max_label_length": 8,
    "use_patch_bias": True,
    "use_class_token": True,
    "use_mha_bias": True,
    "use_mlp_bias": True,
    "dropout_rate": 0.0,
    "initializer_range": 0.02,
    "num_layers_enc": 1,
    "num_layers_dec": 1,
    "vit_patch_size": 8,
    "vit_num_heads": 2,
    "vit_hidden_dim": 8,
    "vit_num_layers": 1,
    "projection_filters": 8,
}

# Arguments a class needs beyond (or instead of) the table: by class name.
OVERRIDES: dict[str, dict[str, Any]] = {
    "ViTBackbone": {"patch_size": 8, "num_layers": 1},
    "ResNetBackbone": {
        "input_conv_filters": [64],
        "input_conv_kernel_sizes": [3],
        "stackwise_num_filters": [64, 8, 8, 8],
        "stackwise_num_blocks": [1, 1, 1, 1],
        "stackwise_num_strides": [1, 2, 2, 2],
        "block_type": "basic_block",
    },
    "SwinTransformerBackbone": {"num_heads": [2, 2], "window_size": 2, "depths": [1, 1]},
    "RetinaNetBackbone": {"use_p5": False},
    "DeepLabV3Backbone": {
        "spatial_pyramid_pooling_key": "P3",
        "upsampling_size": 4,
        "dilation_rates": [1, 2],
    },
    "NonMaxSuppression": {"from_logits": False},
    "PaliGemmaBackbone": {"image_size": 32},
    "Gemma3VisionEncoder": {"image_size": 32},
    "Gemma4VisionEncoder": {"image_size": 32},
    "CSPNetBackbone": {
        "stem_filters": 8,
        "stem_kernel_size": 3,
        "stem_strides": 1,
        "block_type": "dark_block",
        "stage_type": "dark",
    },
    "EfficientNetBackbone": {
        "width_coefficient": 0.1,
        "depth_coefficient": 0.1,
        "stackwise_kernel_sizes": [3],
        "stackwise_num_repeats": [1],
        "stackwise_input_filters": [8],
        "stackwise_output_filters": [8],
        "stackwise_expansion_ratios": [1],
        "stackwise_squeeze_and_excite_ratios": [0.25],
        "stackwise_strides": [1],
        "stackwise_block_types": ["v1"],
    },
    "WhisperBackbone": {
        "num_mels": 8,
        "max_encoder_sequence_length": 16,
        "max_decoder_sequence_length": 8,
    },
    "CLIPTextEncoder": {"intermediate_activation": "quick_gelu", "max_sequence_length": 8},
    "DenseNetBackbone": {"stackwise_num_repeats": [1, 1]},
    "ReversibleEmbedding": {"input_dim": 10, "output_dim": 4},
    "TokenAndPositionEmbedding": {"vocabulary_size": 10, "sequence_length": 8},
    "PositionEmbedding": {"sequence_length": 8},
    "TransformerEncoder": {"intermediate_dim": 8},
    "TransformerDecoder": {"intermediate_dim": 8},
    "MaskedLMHead": {"vocabulary_size": 10, "activation": "softmax"},
    "MultiSegmentPacker": {"sequence_length": 8},
    "StartEndPacker": {"sequence_length": 8},
    "MaskedLMMaskGenerator": {"vocabulary_size": 10, "mask_selection_rate": 0.2},
    "AnchorGenerator": {
        "num_scales": 1,
        "aspect_ratios": [1.0],
        "anchor_size": 4,
    },
    "BoxMatcher": {"thresholds": [0.5], "match_values": [-1, 1]},
}

KINDS = ("Backbone", "Task", "Preprocessor", "Tokenizer", "ImageConverter", "AudioConverter")
MISSING_TOKEN = re.compile(r"[Cc]annot find (?:special token `'|`oov_token=\"|`)([^'`\"]+)")


@dataclass
class Built:
    """What the wide corpus built: objects by class name, failures with their reason."""

    objects: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def kind_of(cls: type) -> str:
    for base in cls.__mro__:
        if base.__name__ in KINDS:
            return base.__name__
    return "Layer"


def _required(cls: type) -> list[str]:
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.name != "self"
        and p.default is p.empty
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _accepts(cls: type, name: str) -> bool:
    try:
        return name in inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False


def _passes_on(cls: type) -> bool:
    """The constructor takes ``*args, **kwargs`` (for its base class's)."""
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind == p.VAR_KEYWORD for p in parameters)


class _Vocabularies:
    """In-memory vocabularies, grown by the special tokens tokenizers ask for."""

    def __init__(self) -> None:
        self.words = list(WORDS)
        self.bpe = dict(BPE_VOCABULARY)
        self.pieces: list[str] = []
        self._proto: bytes | None = None

    def add(self, token: str) -> bool:
        grew = False
        if token not in self.words:
            self.words.append(token)
            grew = True
        if token not in self.bpe:
            self.bpe[token] = len(self.bpe)
            grew = True
        if token not in self.pieces and token not in ("<unk>", "<s>", "</s>", "<pad>"):
            self.pieces.append(token)
            self._proto = None
            grew = True
        return grew

    def proto(self) -> bytes:
        if self._proto is None:
            import sentencepiece

            out = io.BytesIO()
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(SENTENCES * 4),
                model_writer=out,
                vocab_size=120 + 2 * len(self.pieces),
                model_type="word",
                pad_id=0,
                unk_id=1,
                bos_id=2,
                eos_id=3,
                pad_piece="<pad>",
                unk_piece="<unk>",
                bos_piece="<s>",
                eos_piece="</s>",
                user_defined_symbols=self.pieces or None,
                hard_vocab_limit=False,
                minloglevel=3,
            )
            self._proto = out.getvalue()
        return self._proto


class WideBuilder:
    def __init__(self) -> None:
        import keras_hub

        self.kh = keras_hub
        self.vocab = _Vocabularies()
        self.built = Built()
        self._cache: dict[type, Any] = {}

    # -- one class --------------------------------------------------------------------------
    def _tokenizer(self, cls: type) -> Any:
        names = {b.__name__ for b in cls.__mro__}
        for _ in range(12):
            kwargs: dict[str, Any] = {}
            if "WordPieceTokenizer" in names:
                kwargs["vocabulary"] = list(self.vocab.words)
            elif "BytePairTokenizer" in names:
                kwargs["vocabulary"] = dict(self.vocab.bpe)
                kwargs["merges"] = list(BPE_MERGES)
            elif "SentencePieceTokenizer" in names:
                kwargs["proto"] = self.vocab.proto()
            for name in _required(cls):
                if name not in kwargs and name in SMALL:
                    kwargs[name] = SMALL[name]
            try:
                return cls(**kwargs)
            except Exception as exc:
                found = MISSING_TOKEN.search(str(exc))
                if not found or not self.vocab.add(found.group(1)):
                    raise
        raise RuntimeError(f"{cls.__name__}: too many missing tokens")

    def _encoder(self, cls: type, name: str) -> Any:
        """A part a composite class is built of (``vision_encoder``, ``image_encoder``...):
        the class of the same model family named after the argument, else a small ResNet."""
        family = re.sub(r"(Backbone|[A-Z][a-z]+)$", "", cls.__name__)
        wanted = family + "".join(p.capitalize() for p in name.split("_"))
        part = getattr(self.kh.models, wanted, None) or getattr(self.kh.layers, wanted, None)
        if part is None and name == "image_encoder":
            part = self.kh.models.ResNetBackbone
        if part is None:
            raise LookupError(f"no small value for required {name!r}")
        return self._part(part)

    def _arguments(self, cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        kwargs = dict(OVERRIDES.get(cls.__name__, {}))
        for name in _required(cls):
            if name in kwargs or name in skip:
                continue
            if name.endswith("_encoder") or name.endswith("_decoder"):
                kwargs[name] = self._encoder(cls, name)
                continue
            if name not in SMALL:
                raise LookupError(f"no small value for required {name!r}")
            kwargs[name] = copy.deepcopy(SMALL[name])
        return kwargs

    def _plain(self, cls: type) -> Any:
        return cls(**self._arguments(cls))

    def _converter(self, cls: type) -> Any:
        kwargs = self._arguments(cls)
        if kind_of(cls) == "ImageConverter" and _accepts(cls, "image_size"):
            kwargs.setdefault("image_size", (32, 32))
        return cls(**kwargs)

    def _part(self, cls: type | None) -> Any:
        """A tokenizer, converter or backbone another class is built with (built once)."""
        if cls is None:
            return None
        if cls not in self._cache:
            self._cache[cls] = self.make(cls)
        return self._cache[cls]

    def _preprocessor(self, cls: type) -> Any:
        parts = {
            "tokenizer": getattr(cls, "tokenizer_cls", None),
            "image_converter": getattr(cls, "image_converter_cls", None),
            "audio_converter": getattr(cls, "audio_converter_cls", None),
        }
        kwargs = self._arguments(cls, skip=tuple(parts))
        if parts["tokenizer"] is None and _accepts(cls, "tokenizer"):
            # Some declare no tokenizer_cls: the tokenizer of the same model family.
            family = cls.__name__.split("CausalLM")[0].split("Preprocessor")[0]
            parts["tokenizer"] = getattr(self.kh.models, family + "Tokenizer", None)
        for name, part in parts.items():
            if part is not None and (_accepts(cls, name) or _passes_on(cls)):
                kwargs[name] = self._part(part)
        if _accepts(cls, "sequence_length") and "sequence_length" not in kwargs:
            kwargs["sequence_length"] = 8
        return cls(**kwargs)

    def _task(self, cls: type) -> Any:
        backbone = self._part(getattr(cls, "backbone_cls", None))
        preprocessor = None
        preprocessor_cls = getattr(cls, "preprocessor_cls", None)
        if preprocessor_cls is not None:
            try:
                preprocessor = self._part(preprocessor_cls)
            except Exception:
                preprocessor = None
        kwargs = self._arguments(cls, skip=("backbone", "preprocessor"))
        return cls(backbone=backbone, preprocessor=preprocessor, **kwargs)

    def make(self, cls: type) -> Any:
        kind = kind_of(cls)
        if kind == "Task" and getattr(cls, "backbone_cls", None) is None:
            raise LookupError("a generic task: no backbone_cls")
        if kind == "Preprocessor" and not any(
            getattr(cls, f"{p}_cls", None)
            for p in ("tokenizer", "image_converter", "audio_converter")
        ):
            raise LookupError(
                "a generic preprocessor: no tokenizer, image or audio converter class"
            )
        if kind == "Tokenizer":
            return self._tokenizer(cls)
        if kind == "Preprocessor":
            return self._preprocessor(cls)
        if kind == "Task":
            return self._task(cls)
        if kind in ("ImageConverter", "AudioConverter"):
            return self._converter(cls)
        return self._plain(cls)

    # -- everything -------------------------------------------------------------------------
    def classes(self) -> dict[str, type]:
        out: dict[str, type] = {}
        for namespace in (self.kh.models, self.kh.layers, self.kh.tokenizers):
            for name in sorted(dir(namespace)):
                value = getattr(namespace, name)
                if inspect.isclass(value) and name[:1].isupper() and name not in out:
                    out[name] = value
        # The abstract bases build nothing worth checking.
        for base in KINDS + ("CausalLM", "TextClassifier", "ImageClassifier", "Seq2SeqLM"):
            out.pop(base, None)
        return out

    def build_all(self, only: set[str] | None = None) -> Built:
        import keras

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, cls in self.classes().items():
                if only and name not in only:
                    continue
                try:
                    obj = self._cache[cls] if cls in self._cache else self.make(cls)
                    self._cache[cls] = obj
                    keras.saving.serialize_keras_object(obj)
                except Exception as exc:
                    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    self.built.failed[name] = f"{type(exc).__name__}: {message[:160]}"
                    continue
                self.built.objects[name] = obj
                self.built.kinds[name] = kind_of(cls)
        return self.built


def build(only: set[str] | None = None) -> Built:
    return WideBuilder().build_all(only)


def documents_of(built: Built) -> dict[str, Any]:
    """Each built object as JSON text holds it (tuples become lists)."""
    import keras

    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, obj in built.objects.items():
            out[name] = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
    return out


def clean_documents(only: set[str] | None = None) -> dict[str, Any]:
    return documents_of(build(only))


# -- single mistakes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """One mistake made in one clean document, and where a person would fix it."""

    name: str
    base: str
    value: Any
    pointer: str
    code: str


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _numbers(config: dict[str, Any]) -> list[str]:
    return [
        k
        for k, v in config.items()
        if isinstance(v, int) and not isinstance(v, bool) and k != "name" and v > 0
    ]


def _envelopes(value: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The document and the parts a task or preprocessor is built of: their path, envelope."""
    out: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), value)]
    for part in (("backbone",), ("preprocessor",), ("tokenizer",), ("image_converter",)):
        node: Any = value
        for step in part:
            node = node.get("config", {}).get(step) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("config"), dict):
            out.append((("config", *part), node))
    return out


def _at(value: dict[str, Any], where: tuple[str, ...]) -> dict[str, Any]:
    for step in where:
        value = value[step]
    return value


def mutations(documents: dict[str, Any], every: int = 1) -> list[Mutation]:
    """Per ``every``-th document, in its config and in that of its backbone, preprocessor,
    tokenizer or image converter: a misspelt key, an integer given as a string, a class
    name that is nobody's."""
    out: list[Mutation] = []
    for index, (name, value) in enumerate(sorted(documents.items())):
        if index % every or not isinstance(value.get("config"), dict):
            continue
        for where, envelope in _envelopes(value):
            at = "".join(f"/{_escape(step)}" for step in where)
            label = f"{name}{at}"
            numbers = _numbers(envelope["config"])
            if numbers:
                key = numbers[0]
                wrong = copy.deepcopy(value)
                config = _at(wrong, where)["config"]
                config[key + "s_"] = config.pop(key)
                pointer = f"{at}/config/{_escape(key)}s_"
                out.append(Mutation(f"{label}: key {key}s_", name, wrong, pointer, "LCF102"))
                wrong = copy.deepcopy(value)
                config = _at(wrong, where)["config"]
                config[key] = str(config[key])
                pointer = f"{at}/config/{_escape(key)}"
                out.append(Mutation(f"{label}: {key} as a string", name, wrong, pointer, "LCF104"))
            registered = envelope.get("registered_name")
            if isinstance(registered, str) and ">" in registered:
                wrong = copy.deepcopy(value)
                part = _at(wrong, where)
                part["registered_name"] = registered[:-1]
                part["class_name"] = envelope["class_name"][:-1]
                pointer = f"{at}/class_name"
                out.append(Mutation(f"{label}: unknown class", name, wrong, pointer, "LCF101"))
    return out


def save_files(built: Built, folder: Any, count: int = 6) -> dict[str, list[Any]]:
    """``count`` ``.keras`` archives (``model.save``) and ``count`` preset folders
    (``save_to_preset``) of built backbones and tasks spread over the corpus, in ``folder``:
    their paths, and what could not be saved with the reason."""
    from pathlib import Path

    import keras

    folder = Path(folder)
    out: dict[str, list[Any]] = {"archives": [], "presets": [], "failed": []}
    models = sorted(n for n, k in built.kinds.items() if k in ("Backbone", "Task"))
    step = max(1, len(models) // max(1, count))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, name in enumerate(models):
            obj = built.objects[name]
            if index % step == 0 and len(out["archives"]) < count:
                path = folder / f"{name}.keras"
                try:
                    obj.save(path)
                    out["archives"].append(path)
                except Exception as exc:
                    path.unlink(missing_ok=True)
                    out["failed"].append((name, "archive", f"{type(exc).__name__}: {exc}"[:160]))
            if index % step == step // 2 and len(out["presets"]) < count:
                path = folder / f"{name}_preset"
                try:
                    obj.save_to_preset(str(path))
                    out["presets"].append(path)
                except Exception as exc:
                    out["failed"].append((name, "preset", f"{type(exc).__name__}: {exc}"[:160]))
    del keras
    return out


def main(argv: list[str]) -> None:
    from collections import Counter

    started = time.perf_counter()
    built = build()
    spent = time.perf_counter() - started
    kinds = Counter(built.kinds.values())
    total = len(built.objects) + len(built.failed)
    by_kind = dict(sorted(kinds.items()))
    print(f"{len(built.objects)}/{total} classes built in {spent:.1f} s: {by_kind}")
    reasons = Counter(re.sub(r"'[^']*'", "'…'", r)[:70] for r in built.failed.values())
    print("failures by reason:")
    for reason, count in reasons.most_common(25):
        print(f"  {count:3d}  {reason}")
    if "--verbose" in argv:
        for name, reason in sorted(built.failed.items()):
            print(f"failed {name}: {reason}")


if __name__ == "__main__":
    main(sys.argv[1:])
