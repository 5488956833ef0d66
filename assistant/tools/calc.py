"""Safe arithmetic and unit conversion: an `ast` walk over numbers and + - * / // % ** only (no
names, calls or attributes; exponents and magnitudes bounded), and a small table of units."""

from __future__ import annotations

import ast
import math
import operator

MAX_MAGNITUDE = 1e15  # results and operands beyond this are refused
MAX_EXPONENT = 64
MAX_LENGTH = 200  # characters of an expression

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}  # fmt: skip
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class CalcError(ValueError):
    """An expression or conversion that cannot be worked out; the message says why."""


def evaluate(expression: str) -> float:
    """The value of an arithmetic expression such as "17 * 23" or "(2 + 3) ** 2 / 4"."""
    text = expression.replace("×", "*").replace("÷", "/").replace("^", "**").strip()
    if not text or len(text) > MAX_LENGTH:
        raise CalcError(f"not an expression of 1 to {MAX_LENGTH} characters: {expression!r}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalcError(f"not arithmetic: {expression!r}") from None
    return _checked(_value(tree.body))


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(float(node.value))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalcError(f"an exponent over {MAX_EXPONENT} is too large")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalcError("cannot divide by zero") from None
        except (OverflowError, TypeError):  # TypeError: a complex power
            raise CalcError("the result is out of range") from None
    raise CalcError("only numbers and + - * / // % ** and brackets are allowed")


def _checked(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise CalcError("the result is out of range")
    return value


# unit -> (dimension, factor to the dimension's base unit); temperatures are handled apart
_UNITS: dict[str, tuple[str, float]] = {}
for _dimension, _table in {
    "length": {("m", "meter", "meters", "metre", "metres", "米"): 1.0,
               ("km", "kilometer", "kilometers", "kilometre", "kilometres", "公里", "千米"): 1e3,
               ("cm", "centimeter", "centimeters", "厘米"): 0.01,
               ("mm", "millimeter", "millimeters", "毫米"): 0.001,
               ("mi", "mile", "miles", "英里"): 1609.344, ("yd", "yard", "yards"): 0.9144,
               ("ft", "foot", "feet", "英尺"): 0.3048, ("in", "inch", "inches", "英寸"): 0.0254},
    "mass": {("kg", "kilogram", "kilograms", "kilo", "kilos", "公斤", "千克"): 1.0,
             ("g", "gram", "grams", "克"): 0.001,
             ("lb", "lbs", "pound", "pounds", "磅"): 0.45359237,
             ("oz", "ounce", "ounces", "盎司"): 0.028349523125, ("斤",): 0.5},
    "volume": {("l", "liter", "liters", "litre", "litres", "升"): 1.0,
               ("ml", "milliliter", "milliliters", "millilitre", "millilitres", "毫升"): 0.001,
               ("cup", "cups", "杯"): 0.2365882365,
               ("tbsp", "tablespoon", "tablespoons"): 0.01478676,
               ("tsp", "teaspoon", "teaspoons"): 0.00492892,
               ("gallon", "gallons", "gal"): 3.785411784, ("pint", "pints"): 0.473176473,
               ("fl oz", "fluid ounce", "fluid ounces"): 0.0295735296},
    "time": {("s", "second", "seconds", "秒"): 1.0, ("minute", "minutes", "min", "分钟"): 60.0,
             ("h", "hour", "hours", "小时"): 3600.0, ("day", "days", "天"): 86400.0,
             ("week", "weeks", "周", "星期"): 604800.0},
}.items():  # fmt: skip
    for _names, _factor in _table.items():
        for _name in _names:
            _UNITS[_name] = (_dimension, _factor)
_TEMPERATURES = {
    **dict.fromkeys(("c", "°c", "celsius", "degrees celsius", "摄氏度"), "C"),
    **dict.fromkeys(("f", "°f", "fahrenheit", "degrees fahrenheit", "华氏度"), "F"),
    **dict.fromkeys(("k", "kelvin", "kelvins", "开尔文"), "K"),
}
UNIT_NAMES = tuple(sorted([*_UNITS, *_TEMPERATURES], key=len, reverse=True))


def convert(value: float, source: str, target: str) -> float:
    """`value` in unit `source`, expressed in unit `target` (same dimension)."""
    source, target = source.strip().lower(), target.strip().lower()
    if source in _TEMPERATURES and target in _TEMPERATURES:
        kelvin = _to_kelvin(value, _TEMPERATURES[source])
        return _checked(_from_kelvin(kelvin, _TEMPERATURES[target]))
    for unit in (source, target):
        if unit not in _UNITS:
            raise CalcError(f"unknown unit {unit!r}")
    (source_dimension, source_factor), (target_dimension, target_factor) = (
        _UNITS[source],
        _UNITS[target],
    )
    if source_dimension != target_dimension:
        raise CalcError(f"cannot convert {source_dimension} ({source}) to "
                        f"{target_dimension} ({target})")  # fmt: skip
    return _checked(_checked(value) * source_factor / target_factor)


def _to_kelvin(value: float, scale: str) -> float:
    return {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[scale]


def _from_kelvin(kelvin: float, scale: str) -> float:
    return {"C": kelvin - 273.15, "F": (kelvin - 273.15) * 9 / 5 + 32, "K": kelvin}[scale]


def say_number(value: float) -> str:
    """A result a voice reads well: an integer as such, else at most 4 significant decimals."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{round(value, 4):g}"
