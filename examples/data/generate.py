"""Regenerate the small example data sets in this folder (deterministic, seed 0).

The rows are synthetic and deliberately regular (arithmetic, word games, facts) so that the
embedded tiny model's loss clearly falls within a few dozen steps. Run:
``python examples/data/generate.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent

COUNTRIES = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
    "Canada": "Ottawa", "Egypt": "Cairo", "Peru": "Lima", "Kenya": "Nairobi", "Norway": "Oslo",
    "Greece": "Athens", "Poland": "Warsaw", "Chile": "Santiago", "India": "New Delhi",
    "Ireland": "Dublin", "Portugal": "Lisbon",
}
ANTONYMS = {
    "hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "light": "dark",
    "early": "late", "open": "closed", "full": "empty", "young": "old", "strong": "weak",
    "high": "low", "wet": "dry", "hard": "soft", "rich": "poor", "loud": "quiet",
}
WORDS = [
    "apple", "river", "garden", "window", "pencil", "rocket", "silver", "planet", "orange",
    "castle", "bridge", "forest", "letter", "mirror", "candle", "button", "summer", "winter",
]
COLORS = {
    "grass": "green", "the sky": "blue", "snow": "white", "coal": "black", "a banana": "yellow",
    "a tomato": "red", "an orange": "orange", "a plum": "purple",
}
NUM_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def alpaca_row(rng: random.Random) -> dict[str, str]:
    kind = rng.randrange(8)
    if kind == 0:
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        return {"instruction": "Add the two numbers.", "input": f"{a} and {b}",
                "output": f"{a + b}"}
    if kind == 1:
        country = rng.choice(sorted(COUNTRIES))
        return {"instruction": f"What is the capital of {country}?", "input": "",
                "output": f"The capital of {country} is {COUNTRIES[country]}."}
    if kind == 2:
        word = rng.choice(sorted(ANTONYMS))
        return {"instruction": "Give the opposite of the word.", "input": word,
                "output": ANTONYMS[word]}
    if kind == 3:
        word = rng.choice(WORDS)
        return {"instruction": "Write the word in capital letters.", "input": word,
                "output": word.upper()}
    if kind == 4:
        word = rng.choice(WORDS)
        return {"instruction": "Spell the word backwards.", "input": word, "output": word[::-1]}
    if kind == 5:
        thing = rng.choice(sorted(COLORS))
        return {"instruction": f"What color is {thing}?", "input": "",
                "output": f"{thing[0].upper() + thing[1:]} is {COLORS[thing]}."}
    if kind == 6:
        nums = rng.sample(range(1, 50), 4)
        return {"instruction": "Sort the numbers from smallest to largest.",
                "input": ", ".join(map(str, nums)), "output": ", ".join(map(str, sorted(nums)))}
    n = rng.randint(0, 10)
    return {"instruction": "Write the number as a word.", "input": str(n), "output": NUM_WORDS[n]}


def write_jsonl(name: str, rows: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(0)
    write_jsonl("alpaca.jsonl", [alpaca_row(rng) for _ in range(200)])

    prefs = []
    for i in range(100):
        if i % 2 == 0:
            country = rng.choice(sorted(COUNTRIES))
            wrong = rng.choice([c for c in COUNTRIES.values() if c != COUNTRIES[country]])
            prefs.append({"prompt": f"What is the capital of {country}?",
                          "chosen": f"The capital of {country} is {COUNTRIES[country]}.",
                          "rejected": f"The capital of {country} is {wrong}.",
                          "task_type": "geography"})
        else:
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            prefs.append({"prompt": f"What is {a} plus {b}?", "chosen": f"{a} plus {b} is {a + b}.",
                          "rejected": f"{a} plus {b} is {a + b + rng.randint(1, 5)}.",
                          "task_type": "arithmetic"})
    write_jsonl("preference.jsonl", prefs)

    chats = []
    for _ in range(50):
        first, second = alpaca_row(rng), alpaca_row(rng)
        messages = [{"role": "system", "content": "You are a helpful assistant."}]
        for row in (first, second):
            user = row["instruction"] + (f"\n{row['input']}" if row["input"] else "")
            messages += [{"role": "user", "content": user},
                         {"role": "assistant", "content": row["output"]}]
        chats.append({"messages": messages})
    write_jsonl("chat.jsonl", chats)

    # Small files shaped like the four task datasets of the sweep.
    metamath = []
    for _ in range(8):
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        metamath.append({
            "query": f"Tom has {a} boxes with {b} pens each. How many pens does he have?",
            "response": f"He has {a} * {b} = {a * b} pens.\nThe answer is: {a * b}",
            "type": "GSM_Rephrased",
            "original_question": f"Tom has {a} boxes of {b} pens. How many pens?",
        })
    write_jsonl("metamathqa_sample.jsonl", metamath)

    magicoder = [
        {"instruction": "Write a Python function that returns the square of x.",
         "response": "```python\ndef square(x):\n    return x * x\n```"},
        {"instruction": "Write a Python function that adds two numbers.",
         "response": "```python\ndef add(a, b):\n    return a + b\n```"},
        {"instruction": "Write a Python function that reverses a string.",
         "response": "```python\ndef reverse(s):\n    return s[::-1]\n```"},
        {"instruction": "Write a Python function that checks if n is even.",
         "response": "```python\ndef is_even(n):\n    return n % 2 == 0\n```"},
    ]
    write_jsonl("magicoder_sample.jsonl", magicoder)

    alpaca_task = []
    for i in range(6):
        row = alpaca_row(rng)
        if i % 2:
            head = f"### Instruction:\n{row['instruction']}\n\n"
            if row["input"]:
                head += f"### Input:\n{row['input']}\n\n"
            row["text"] = head + f"### Response:\n{row['output']}"
        else:
            row["text"] = ""
        alpaca_task.append(row)
    write_jsonl("alpaca_task_sample.jsonl", alpaca_task)

    csqa = [
        {"id": "q1", "question": "Where would you put a plate after washing it?",
         "question_concept": "plate",
         "choices": {"label": ["A", "B", "C", "D", "E"],
                     "text": ["cupboard", "garden", "car", "river", "roof"]},
         "answerKey": "A"},
        {"id": "q2", "question": "What do people use to cut paper?",
         "question_concept": "cut",
         "choices": {"label": ["A", "B", "C", "D", "E"],
                     "text": ["spoon", "scissors", "pillow", "cup", "shoe"]},
         "answerKey": "B"},
        {"id": "q3", "question": "Where does a fish live?",
         "question_concept": "fish",
         "choices": {"label": ["A", "B", "C", "D", "E"],
                     "text": ["desert", "attic", "water", "closet", "oven"]},
         "answerKey": "C"},
        {"id": "q4", "question": "What do you wear on your feet?",
         "question_concept": "feet",
         "choices": {"label": ["A", "B", "C", "D", "E"],
                     "text": ["hat", "gloves", "scarf", "shoes", "belt"]},
         "answerKey": "D"},
    ]
    write_jsonl("commonsense_qa_sample.jsonl", csqa)


if __name__ == "__main__":
    main()
