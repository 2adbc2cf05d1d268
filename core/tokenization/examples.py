"""Example texts for the tokenization page, each chosen to show one tokenizer behaviour.

- prose: common English words are single tokens, with their leading space;
- code: indentation and operators, where GPT-2 wastes tokens on runs of spaces and
  cl100k/o200k do not (their regex keeps whitespace runs together);
- numbers: GPT-2 splits digit runs arbitrarily, GPT-4's pattern cuts them into groups of
  at most three digits;
- emoji and Chinese: characters of 3-4 UTF-8 bytes, often split across tokens (the page
  shows the bytes of each piece);
- mixed whitespace: tabs, CRLF, trailing spaces, non-breaking and zero-width spaces;
- special token: ``<|endoftext|>`` typed as text, encoded as text unless allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

EXAMPLES: Mapping[str, str] = MappingProxyType(
    {
        "Prose": (
            "The quick brown fox jumps over the lazy dog. Tokenizers turn text into integers: "
            "frequent words become a single token, rare ones are spelled out in pieces, like "
            "antidisestablishmentarianism or Glassbox."
        ),
        "Code": (
            "def fibonacci(n: int) -> list[int]:\n"
            '    """Return the first n Fibonacci numbers."""\n'
            "    seq = [0, 1]\n"
            "    while len(seq) < n:\n"
            "        seq.append(seq[-1] + seq[-2])\n"
            "    return seq[:n]\n\n"
            "if __name__ == '__main__':\n"
            "    print(fibonacci(10))  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n"
        ),
        "Numbers": (
            "1 12 123 1234 12345 123456 1234567\n"
            "3.14159265358979 2,718,281 1e-9 0x7fff_ffff\n"
            "2024-06-01 12:34:56 +01:00  $1,299.99  98.6°F  -40"
        ),
        "Emoji": "I ❤️ tokens 🙂🙃 👩‍💻 writes code; 🇫🇷 flag, 🎉🎉🎉 party, ✅ done.",
        "Chinese": "你好，世界！分词器把文字变成数字。机器学习很有趣。GPT-4 处理中文的效率更高。",
        "Mixed whitespace": (
            "tab\there\tand\tthere\r\nWindows line\r\n"
            "trailing spaces   \n\n\n"
            "non\u00a0breaking\u00a0space, zero\u200bwidth\u200bspace,    four spaces"
        ),
        "Special token": (
            "First document ends here.<|endoftext|>Second document starts here. "
            "Typed by a user, <|endoftext|> is just 13 characters of text."
        ),
    }
)
