"""The two notices as campaign templates: configuration data, never special cases in code.

Times are local to the campaign (Asia/Shanghai) and written to the hour. A new round made from
a template copies everything here and takes new dates (see commands/campaigns.new_round).
"""

from __future__ import annotations

import copy

from .i18n import N_

CATEGORIES = {
    "dept_brand": {"name": N_("一系一品牌"), "unit_level": "general_branch"},
    "branch_feature": {"name": N_("一支部一特色"), "unit_level": "branch"},
}

# Platform levels of a news article, lowest first (notice 000: 学院及以上 count).
NEWS_LEVELS = {
    "dept": N_("系"),
    "college": N_("学院"),
    "school": N_("学校"),
    "province": N_("省"),
    "national": N_("国家"),
}

REPORT_SECTIONS = ["品牌名称", "创建背景", "品牌内涵", "主要举措", "取得成效"]
# Notice 001 二(三): the mid-term evaluation looks at progress, results so far, problems and plans.
MIDTERM_REPORT_SECTIONS = ["工作进展", "阶段成效", "存在问题", "下一步计划"]


# Notice 000 四(二)–(三): ≥2 news articles on 学院及以上 platforms; the report in five parts,
# ≤3000 characters, with 3–5 captioned photos. Notice 001 sets no rules of its own, so it uses these.
EVIDENCE_000 = {
    "news_min": 2,
    "news_levels": ["college", "school", "province", "national"],
    "photos_min": 3,
    "photos_max": 5,
    "report_sections": REPORT_SECTIONS,
    "report_max_chars": 3000,
    "midterm_report_sections": MIDTERM_REPORT_SECTIONS,
    "midterm_report_max_chars": 2000,
    "photo_min_pixels": 0,
}


def _field(key, label, max_length, required=True, help="", multiline=True):
    return {
        "key": key,
        "label": label,
        "help": help,
        "required": required,
        "max_length": max_length,
        "multiline": multiline,
    }


# Notice 000's five creation standards (三、创建标准), each a range criterion of 20 points.
NCUT_RUBRIC = {
    "version": 1,
    "criteria": [
        {"code": "C1", "name": "具有标识性的品牌名称", "max": 20, "mode": "range",
         "guidance": "品牌名称涵盖主题内涵，突出党建工作特色和着力点，简短有力，易懂易记。",
         "evidence": "申报表、品牌标识"},
        {"code": "C2", "name": "针对具体问题，符合学院和师生发展需求", "max": 20, "mode": "range",
         "guidance": "目标驱动、问题驱动；定位准确、理念先进、基础扎实。", "evidence": "申报表、创建方案"},
        {"code": "C3", "name": "依托知行合一载体", "max": 20, "mode": "range",
         "guidance": "“知”与“行”结合，主题活动既满足学习提升需求，又被广泛认同。", "evidence": "活动记录、照片"},
        {"code": "C4", "name": "有明显创建成效", "max": 20, "mode": "range",
         "guidance": "党员参与度高、覆盖面高、作用发挥好，得到师生欢迎和认可。", "evidence": "宣传报道、成果报告"},
        {"code": "C5", "name": "项目可持续发展", "max": 20, "mode": "range",
         "guidance": "有长期规划、年度计划和具体措施，抓长、抓细、抓常。", "evidence": "长期规划、年度计划"},
    ],
}  # fmt: skip

# Notice 001 scores the mid-term "参照《基层党支部达标创星标准及评分规则》中品牌建设": the brand-building
# part of such rules, using every way real rules score (the organizer edits or imports the real one).
MINBEI_RUBRIC = {
    "version": 1,
    "criteria": [
        {"code": "P1", "name": "品牌设计", "max": 20, "mode": "range", "children": [
            {"code": "P1.1", "name": "品牌名称与标识", "max": 10, "mode": "range",
             "guidance": "名称简短有力、内涵鲜明，有统一标识。", "evidence": "申报表、品牌标识"},
            {"code": "P1.2", "name": "品牌定位", "max": 10, "mode": "levels",
             "levels": [["好", 10], ["较好", 8], ["一般", 5], ["差", 0]],
             "guidance": "紧扣中心工作和师生需求。", "evidence": "创建方案"},
        ]},
        {"code": "P2", "name": "组织生活规范", "max": 10, "mode": "deduction", "per": 0.5,
         "guidance": "“三会一课”、主题党日按要求开展，缺一次扣0.5分，扣完为止。", "evidence": "会议记录"},
        {"code": "P3", "name": "宣传报道", "max": 10, "mode": "count", "per": 0.5,
         "guidance": "在学院及以上平台刊发品牌宣传报道，每篇0.5分，最高10分。", "evidence": "新闻链接、截图"},
        {"code": "P4", "name": "载体与活动", "max": 30, "mode": "range",
         "guidance": "知行合一载体，活动吸引力、感染力强。", "evidence": "活动记录、照片"},
        {"code": "P5", "name": "创建成效", "max": 30, "mode": "levels",
         "levels": [["好", 30], ["较好", 24], ["一般", 15], ["差", 5]],
         "guidance": "党员参与度、覆盖面、示范带动作用。", "evidence": "成果报告、师生评价"},
        {"code": "B1", "name": "获得上级表彰或经验推广", "max": 5, "mode": "bonus",
         "guidance": "获校级及以上表彰、经验被上级推广的加分。", "evidence": "表彰文件"},
        {"code": "V1", "name": "发生违纪违规问题", "mode": "veto", "effect": "fail",
         "guidance": "支部党员发生严重违纪违规问题的，一票否决。", "evidence": "纪检通报"},
    ],
}  # fmt: skip

NCUT_2023 = {
    "slug": "ncut-info-2023",
    "title": "信息学院2023年度“一支部一特色”品牌创建",
    "committee": "ncut-info",
    "organizer_name": "中共北方工业大学信息学院委员会",
    "notice_no": "党发[2023]3号",
    "notice_date": "2023-04-03",
    "layout": "ncut-2023",
    "timezone": "Asia/Shanghai",
    "categories": ["branch_feature"],
    "stages": [
        {"code": "apply", "name": "组织申报", "opens": "2023-04-03 09:00", "due": "2023-04-15 17:00",
         "note": "填报申报表，纸质版报送学院党委专职组织员"},
        {"code": "cultivate", "name": "培育创建", "opens": "2023-04-16 00:00", "due": "2023-12-31 23:00",
         "note": "品牌培育、宣传推广（学院及以上平台至少 2 篇新闻稿）、品牌服务"},
        {"code": "final", "name": "评估验收", "opens": "2024-01-01 00:00", "due": "2024-01-31 23:00",
         "note": "提交品牌创建成果报告（五部分，3000 字以内，附 3–5 张照片及注释）"},
        {"code": "showcase", "name": "总结展示", "opens": "2024-02-01 00:00", "due": "2024-02-29 23:00",
         "note": "汇总各支部品牌建设情况，举办专题交流展览和经验交流及优秀表彰会"},
    ],
    "late_policy": "flag",
    "form": [
        _field("branch_name", "党支部名称", 60, multiline=False),
        _field("brand_name", "品牌名称", 30, multiline=False,
               help="简短有力，易懂易记，涵盖主题内涵"),
        _field("lead", "品牌实施负责人", 30, multiline=False),
        _field("intro", "品牌简介", 1000),
        _field("measures", "创建措施及步骤", 3000),
        _field("outcomes", "预期成效及验收指标", 2000),
    ],
    "approval_chain": ["branch"],
    "evidence": EVIDENCE_000,
    "rubric": NCUT_RUBRIC,
    "aggregation": {"method": "mean", "trim_from": 5},
    "grades": [["优秀", 90], ["良好", 80], ["合格", 60], ["不合格", 0]],
    "quotas": {"branch_feature": None},
    "publicity_days": 5,
    "deferral_max_days": 92,
    "funding": False,
    "reminder_days": [7, 3, 1],
}  # fmt: skip

MINBEI_2025 = {
    "slug": "minbei-2025",
    "title": "闽北职院2025年“一系一品牌，一支部一特色”党建品牌创建",
    "committee": "minbei",
    "organizer_name": "中共闽北职业技术学院委员会",
    "notice_no": "闽北职院党〔2025〕21号",
    "notice_date": "2025-06-06",
    "layout": "minbei-2025",
    "timezone": "Asia/Shanghai",
    "categories": ["dept_brand", "branch_feature"],
    "stages": [
        {"code": "apply", "name": "品牌设计", "opens": "2025-06-06 09:00", "due": "2025-06-16 18:00",
         "note": "上报《党建品牌创建工作申报表》"},
        {"code": "review", "name": "审核论证", "opens": "2025-06-17 00:00", "due": "2025-06-30 18:00",
         "note": "组织部审核论证，并与申报党组织充分沟通"},
        {"code": "midterm", "name": "中期评估", "opens": "2025-07-01 00:00", "due": "2025-11-10 18:00",
         "note": "参照《基层党支部达标创星标准及评分规则》品牌建设部分，考评组打分"},
        {"code": "final", "name": "评估认定", "opens": "2025-11-01 00:00", "due": "2025-11-15 18:00",
         "note": "提交工作总结报告、培育创建成果；认定党总支优秀品牌 2 个、党支部特色项目 7 个"},
        {"code": "showcase", "name": "成果应用展示", "opens": "2025-11-16 00:00", "due": "2026-11-30 18:00",
         "note": "党务干部能力大赛、汇编成册等形式集中展示（长期坚持）"},
    ],
    "late_policy": "refuse",
    "form": [
        _field("lead_name", "负责人姓名", 20, multiline=False),
        _field("lead_title", "职务/职称", 30, multiline=False),
        _field("lead_phone", "办公电话", 20, multiline=False),
        _field("brand_name", "品牌名称", 30, multiline=False),
        _field("intro", "项目简介", 1000),
        _field("plan_approach", "总体思路", 1000, help="项目实施计划：总体思路"),
        _field("plan_goals", "建设目标", 1000, help="项目实施计划：建设目标"),
        _field("plan_annual", "年度工作目标", 1000, help="项目实施计划：年度工作目标"),
        _field("plan_measures", "工作举措", 3000, help="项目实施计划：工作举措"),
    ],
    "approval_chain": ["branch", "general_branch"],
    "evidence": EVIDENCE_000,
    "rubric": MINBEI_RUBRIC,
    "aggregation": {"method": "trimmed_mean", "trim_from": 5},
    "grades": [["优秀", 90], ["良好", 80], ["合格", 60], ["不合格", 0]],
    "quotas": {"dept_brand": 2, "branch_feature": 7},
    "publicity_days": 5,
    "deferral_max_days": 92,
    "funding": True,
    "reminder_days": [7, 3, 1],
}  # fmt: skip

TEMPLATES = {t["slug"]: t for t in (NCUT_2023, MINBEI_2025)}


def template(slug: str) -> dict:
    return copy.deepcopy(TEMPLATES[slug])
