"""The simulated models' stock sentences for free text (solvers.py, instructions.py)."""

from __future__ import annotations

SENTENCES = (
    "The short version is that it depends on the details, but the main idea is simple.",
    "First, it helps to separate what is known from what is assumed.",
    "In practice, most people start with the simplest approach and refine it later.",
    "A useful rule of thumb is to check the inputs before trusting the outputs.",
    "There are a few trade-offs worth keeping in mind here.",
    "Speed and accuracy often pull in different directions.",
    "If you need more precision, measure twice and compare the results.",
    "Small, well-tested steps usually beat one large change.",
    "It is also worth writing down the assumptions so others can check them.",
    "Examples make the idea concrete, so consider a small one first.",
    "The same reasoning applies to larger cases with only minor changes.",
    "When in doubt, prefer the option that is easiest to undo.",
    "Documentation and a quick test go a long way toward avoiding surprises.",
    "Finally, revisit the result after a day; fresh eyes catch mistakes.",
    "Each of these points is simple on its own, and together they cover most situations.",
    "Let me know if you would like a deeper explanation of any part.",
)
